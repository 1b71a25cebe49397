"""Time mlsysim 0.1.1 per configuration (run with an interpreter that has mlsysim; never dsx's).

Reads a JSON list of configurations on stdin, writes JSON timings on stdout:
``{"single_node_us": [...], "fleet_us": [...]}`` — per-configuration wall time of
``SingleNodeModel.solve`` and of ``DistributedModel + EconomicsModel + SustainabilityModel``.
"""

import json
import sys
import time
import warnings

warnings.filterwarnings("ignore")

import mlsysim  # noqa: E402
from mlsysim import DistributedModel, EconomicsModel, SingleNodeModel, SustainabilityModel  # noqa: E402
from mlsysim.core.constants import Q_  # noqa: E402
from mlsysim.infra.registry import Grids  # noqa: E402
from mlsysim.systems.types import Fleet, NetworkFabric, Node  # noqa: E402

MODELS = {"llama-3.1-8b": mlsysim.Models.Language.Llama3_8B, "llama-3.1-70b": mlsysim.Models.Language.Llama3_70B,
          "llama-2-70b": mlsysim.Models.Language.Llama2_70B, "gpt3-175b": mlsysim.Models.Language.GPT3}
HARDWARE = {"H100-SXM": mlsysim.Hardware.Cloud.H100, "A100-80GB": mlsysim.Hardware.Cloud.A100,
            "B200": mlsysim.Hardware.Cloud.B200, "H200": mlsysim.Hardware.Cloud.H200,
            "MI300X": mlsysim.Hardware.Cloud.MI300X}
GRIDS = {"quebec": Grids.Quebec, "poland": Grids.Poland, "norway": Grids.Norway, "us-average": Grids.US_Avg}
PREC = {"bf16": "fp16", "fp16": "fp16", "fp8": "fp8", "fp32": "fp32", "int8": "int8"}


def main():
    configs = json.load(sys.stdin)
    single, fleet_t = [], []
    fabric = NetworkFabric(name="IB NDR", topology="fat-tree", bandwidth=Q_("400 Gbps"))
    for c in configs:
        model, hw = MODELS[c["model"]], HARDWARE[c["hardware"]]
        prec = PREC.get(c["precision"], "fp16")
        t0 = time.perf_counter()
        SingleNodeModel().solve(model=model, hardware=hw, batch_size=c["micro_batch"], precision=prec)
        single.append((time.perf_counter() - t0) * 1e6)
        t0 = time.perf_counter()
        node = Node(name="node", accelerator=hw, accelerators_per_node=8, intra_node_bw=Q_("900 GB/s"))
        fl = Fleet(name="f", node=node, count=max(1, c["gpus"] // 8), fabric=fabric, region=GRIDS[c["region"]])
        DistributedModel().solve(model=model, fleet=fl, batch_size=c["global_batch"], precision=prec,
                                 tp_size=c["tp"], pp_size=c["pp"], overlap_comm=True, seq_len=c["seq_len"])
        EconomicsModel().solve(fleet=fl, duration_days=30, grid=GRIDS[c["region"]], mfu=0.4)
        SustainabilityModel().solve(fleet=fl, duration_days=30, datacenter=GRIDS[c["region"]], mfu=0.4)
        fleet_t.append((time.perf_counter() - t0) * 1e6)
    json.dump({"single_node_us": single, "fleet_us": fleet_t, "version": mlsysim.__version__}, sys.stdout)


if __name__ == "__main__":
    main()
