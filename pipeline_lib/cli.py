"""The ``udaflow`` command: model-file tasks that need no workflow run.

- ``udaflow import-adaptsegnet CKPT OUT.pt``: a released AdaptSegNet checkpoint as a udaflow model file
  (two-branch ASPP, Caffe BGR inputs; ``pipeline_lib.models.adaptsegnet_import``);
- ``udaflow import-cpsl CKPT.pkl OUT.pt``: a released CPSL/ProDA checkpoint (warm-up or stage 1-3) as
  a udaflow model file (ProDA head, RGB/255 inputs; ``pipeline_lib.models.proda_import``);
- ``udaflow import-cbst MODEL.params OUT.pt [--num-classes N]``: a released CBST/MLSL MXNet ResNet-38
  as a udaflow model file, read without MXNet (``pipeline_lib.models.cbst_import``);
- ``udaflow import-dasac SNAPSHOT OUT.pt [--teacher]``: a released DA-SAC snapshot's student (or
  momentum teacher) as a udaflow model file (``pipeline_lib.models.dasac_import``);
- ``udaflow convert-dasac-weights cs_weights_<net>_<source>.data OUT.csv``: DA-SAC's released
  importance-sampling weights as the weight CSV of the target list (``pipeline_lib.dasac.importance_weights``);
- ``udaflow evaluate MODEL.pt --config config.yaml``: the evaluate job on the Cityscapes val list,
  writing the same files as ``snakemake results/<run>/miou.json``;
- ``udaflow check-imagenet WEIGHTS.pth --arch ARCH``: load torchvision ImageNet weights the way training
  does (``model.imagenet_weights``; ``pipeline_lib.models.imagenet``) and list loaded, missing and
  unexpected keys, before a long run depends on them.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import yaml

from pipeline_lib.cpsl.prototypes import save_prototypes
from pipeline_lib.dasac.importance_weights import load_released_weights, read_weights, released_weights, write_weights
from pipeline_lib.data.datasets import read_file_list
from pipeline_lib.engine import cpu_code_path
from pipeline_lib.jobs import evaluate
from pipeline_lib.models import ARCHITECTURES, build_model
from pipeline_lib.models.adaptsegnet_import import RELEASED_ASPP_BRANCHES, import_adaptsegnet
from pipeline_lib.models.cbst_import import import_cbst
from pipeline_lib.models.dasac_import import import_dasac
from pipeline_lib.models.deeplabv2 import ASPP_BRANCH_CHOICES
from pipeline_lib.models.imagenet import load_imagenet_weights
from pipeline_lib.models.proda_import import import_proda
from pipeline_lib.models.serialization import evaluation_preprocessing

VAL_LIST = "data/converted/cityscapes/val.csv"
TRAIN_LIST = "data/converted/cityscapes/train.csv"


def _import_adaptsegnet(args: argparse.Namespace) -> None:
    spec, report = import_adaptsegnet(args.checkpoint, args.output, args.aspp_branches)
    counters = sum(key.endswith(".num_batches_tracked") for key in report.missing)
    print(
        f"{args.output}: {spec.arch}, {'multi' if spec.multi_level else 'single'}-level, "
        f"{spec.aspp_branches_used}-branch ASPP, caffe_bgr inputs; {len(report.loaded)} tensors loaded, "
        f"{counters} num_batches_tracked counters absent from the file, 0 unexpected"
    )


def _import_cpsl(args: argparse.Namespace) -> None:
    spec, report = import_proda(args.checkpoint, args.output)
    print(
        f"{args.output}: {spec.arch}, ProDA head, rgb01 inputs, bn_pretrain {spec.bn_pretrain}, {spec.num_classes} "
        f"classes; {len(report.loaded)} tensors loaded, {len(report.missing)} num_batches_tracked counters absent "
        f"from the file, {len(report.ignored)} extra counters ignored, 0 unexpected; iteration {report.iteration}, "
        f"best_iou {report.best_iou}"
    )
    if args.prototypes_out:
        if report.prototypes is None:
            raise SystemExit(f"{args.checkpoint}: no learned prototypes_ema (only stage-1 checkpoints carry them)")
        save_prototypes(args.prototypes_out, report.prototypes)
        print(f"{args.prototypes_out}: prototypes_ema {tuple(report.prototypes.shape)}")


def _import_cbst(args: argparse.Namespace) -> None:
    spec, report = import_cbst(args.params, args.output, args.num_classes)
    print(
        f"{args.output}: {spec.arch} (CBST fcrna_model_a1), {spec.num_classes} classes, imagenet inputs; "
        f"{len(report.loaded)} tensors loaded, {len(report.missing)} num_batches_tracked counters absent from the "
        "file, 0 unexpected"
    )


def _convert_dasac_weights(args: argparse.Namespace) -> None:
    names = read_file_list(args.file_list)["name"].tolist()
    table = released_weights(load_released_weights(args.weights), names, Path(args.weights))
    write_weights(args.output, table)
    read_weights(args.output, names)  # what the SAC job will check: every frame, each class summing to 1
    print(f"{args.output}: {len(table)} (image, class) weights of {len(names)} frames from {args.weights}")


def _import_dasac(args: argparse.Namespace) -> None:
    network = "teacher" if args.teacher else "student"
    report = import_dasac(args.checkpoint, args.output, network)
    counters = sum(key.endswith(".num_batches_tracked") for key in report.missing)
    print(
        f"{args.output}: the {network} of {args.checkpoint}, {report.spec.arch}, imagenet inputs; "
        f"{len(report.loaded)} tensors loaded, {counters} num_batches_tracked counters absent from the file, "
        f"0 unexpected; {len(report.ignored)} snapshot keys outside the {network} ignored"
    )


def _evaluate(args: argparse.Namespace) -> None:
    if not Path(args.file_list).is_file():
        raise SystemExit(
            f"udaflow evaluate: file list {args.file_list} does not exist; the workflow makes the Cityscapes "
            f"val list with `snakemake --cores 4 {VAL_LIST}` (or pass --file-list)"
        )
    config = yaml.safe_load(Path(args.config).read_text())
    # torch reads its kernel level at the first computation, which has not happened yet; numpy and
    # OpenCV chose theirs at import, but scoring uses them only for integer counting and PNG I/O.
    cpu_code_path.apply(config["compute"].get("cpu_code_path", "portable"))
    cpu_code_path.configure_torch()
    evaluation = dict(config["evaluation"])
    recorded = evaluation_preprocessing(args.model)
    if args.input_size:
        evaluation["input_size"] = list(args.input_size)
    elif recorded and not args.config_preprocessing:
        evaluation.update(recorded)
        print(
            f"{args.model}: scored with its release's preprocessing {recorded} (--config-preprocessing: the config's)"
        )
    name = args.name or Path(args.model).parent.name
    out = Path(args.out_dir) if args.out_dir else Path("results") / name
    result = evaluate.run(
        args.model,
        args.file_list,
        out / "miou.json",
        out / "per_class.csv",
        out / "visuals",
        out / "label_ids",
        evaluation=evaluation,
        compute=config["compute"],
        config={**config, "evaluation": evaluation},
        method=name,
        threads=args.threads,
    )
    print(f"{out / 'miou.json'}: mIoU {result['miou']:.2f}")


def _check_imagenet(args: argparse.Namespace) -> None:
    model = build_model(args.arch, multi_level=args.multi_level)
    report = load_imagenet_weights(model, args.weights)
    print(f"{args.weights} -> {args.arch}: {report.describe()}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="udaflow", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    importer = commands.add_parser(
        "import-adaptsegnet",
        help="write a released AdaptSegNet checkpoint (DeeplabMulti, Res_Deeplab, DeeplabVGG) as a udaflow model file",
    )
    importer.add_argument("checkpoint", help="AdaptSegNet .pth, e.g. GTA2Cityscapes_multi-ed35151c.pth")
    importer.add_argument("output", help="udaflow model file to write, e.g. work/adaptseg_released/model.pt")
    importer.add_argument(
        "--aspp-branches",
        type=int,
        choices=ASPP_BRANCH_CHOICES,
        default=RELEASED_ASPP_BRANCHES,
        help="ASPP branches summed; 2 reproduces the released models (default), 4 is DeepLab-v2 proper",
    )
    importer.set_defaults(handler=_import_adaptsegnet)

    cpsl = commands.add_parser(
        "import-cpsl",
        help="write a released CPSL/ProDA .pkl (warm-up, stage 1, 2 or 3) as a udaflow model file; also the "
        "format of config cpsl.warmup_checkpoint",
    )
    cpsl.add_argument("checkpoint", help="e.g. from_gta5_to_cityscapes_on_deeplabv2_best_model.pkl")
    cpsl.add_argument("output", help="udaflow model file to write, e.g. work/cpsl_released/model.pt")
    cpsl.add_argument("--prototypes-out", help="also write the checkpoint's learned prototypes_ema (stage 1)")
    cpsl.set_defaults(handler=_import_cpsl)
    cbst = commands.add_parser(
        "import-cbst",
        help="write a released CBST/MLSL MXNet ResNet-38 model (.params) as a udaflow model file; also the format "
        "of config self_training.round0_model",
    )
    cbst.add_argument("params", help="MXNet .params, e.g. gta_rna-a1_cls19_s8_ep-0000.params")
    cbst.add_argument("output", help="udaflow model file to write, e.g. work/cbst_released/model.pt")
    cbst.add_argument(
        "--num-classes", type=int, help="the class count the file must have (19 GTA5, 16 SYNTHIA); default: the file's"
    )
    cbst.set_defaults(handler=_import_cbst)
    dasac = commands.add_parser(
        "import-dasac",
        help="write a released DA-SAC DeepLab-v2 ResNet-101 snapshot (ABN baseline or final) as a udaflow model file",
    )
    dasac.add_argument("checkpoint", help="DA-SAC .pth, e.g. final_e136.pth or baseline_abn_e040.pth")
    dasac.add_argument("output", help="udaflow model file to write, e.g. work/dasac_released/model.pt")
    dasac.add_argument(
        "--teacher",
        action="store_true",
        help="import the momentum teacher (module.slow_net.*) instead of the student the paper evaluates",
    )
    dasac.set_defaults(handler=_import_dasac)

    weights = commands.add_parser(
        "convert-dasac-weights",
        help="write a released cs_weights_<net>_<source>.data as the importance-weight CSV of a target list",
    )
    weights.add_argument("weights", help="DA-SAC's released cs_weights_*.data (torch.save of a dict)")
    weights.add_argument("output", help="importance_weights.csv (e.g. work/dasac_baseline/importance_weights.csv)")
    weights.add_argument(
        "--file-list", default=TRAIN_LIST, help=f"the target list the weights are for (default {TRAIN_LIST})"
    )
    weights.set_defaults(handler=_convert_dasac_weights)

    scorer = commands.add_parser("evaluate", help="score a udaflow model file on the Cityscapes val list")
    scorer.add_argument("model", help="udaflow model file (work/<run>/model.pt or an imported one)")
    scorer.add_argument("--config", default="config.yaml", help="workflow config: its evaluation and compute sections")
    scorer.add_argument("--file-list", default=VAL_LIST, help=f"name,image,label CSV to score (default {VAL_LIST})")
    scorer.add_argument(
        "--input-size",
        type=int,
        nargs=2,
        metavar=("WIDTH", "HEIGHT"),
        help="network input size, overriding evaluation.input_size (AdaptSegNet: 1024 512)",
    )
    scorer.add_argument(
        "--config-preprocessing",
        action="store_true",
        help="use the config's evaluation.input_size/resize even where the model records its release's",
    )
    scorer.add_argument("--name", help="method name recorded in miou.json (default: the model's folder name)")
    scorer.add_argument("--out-dir", help="where result files go (default results/<name>)")
    scorer.add_argument("--threads", type=int, default=1, help="CPU threads")
    scorer.set_defaults(handler=_evaluate)

    checker = commands.add_parser(
        "check-imagenet", help="load torchvision ImageNet weights into an architecture and list the keys it used"
    )
    checker.add_argument(
        "weights",
        help="torchvision .pth (resnet101-5d3b4d8f.pth, vgg16-397923af.pth) or, for resnet38, ademxapp's MXNet "
        "ilsvrc-cls_rna-a1_cls1000_ep-0001.params",
    )
    checker.add_argument("--arch", choices=ARCHITECTURES, required=True, help="the config's model.arch")
    checker.add_argument("--multi-level", action="store_true", help="with AdaptSegNet's aux head (layer5 on layer3)")
    checker.set_defaults(handler=_check_imagenet)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args.handler(args)


def console() -> None:
    """The ``udaflow`` command: a bad file or argument (the errors name it) is one line, not a traceback."""
    try:
        main()
    except OSError as err:  # ours name the file in the message; the system's (e.g. permissions) in .filename
        raise SystemExit(f"udaflow: {err.filename}: {err.strerror}" if err.filename else f"udaflow: {err}") from err
    except ValueError as err:  # the errors that name a bad file or value
        raise SystemExit(f"udaflow: {err}") from err


if __name__ == "__main__":
    console()
