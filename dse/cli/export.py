"""``dse export`` (train a chosen network and write it as code), ``dse measure`` (emulate the
export on its core) and ``dse calibrate`` (fit the dse-c runtime to such emulations)."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from dse.architecture import DTYPES
from dse.cli.common import Verbs, load_data, positive_int, print_json, seed, typed, whole
from dse.config import SETTINGS
from dse.errors import DseError
from dse.export.bundle import FORMATS, ExportRequest
from dse.export.final import FINAL_SEEDS
from dse.hardware import HardwareProfile, load_profile
from dse.report import kib, priced_by, table


def add_parsers(verbs: Verbs) -> None:
    exp = verbs.add_parser("export", help="train a chosen network and write it as C, ONNX and "
                                          "PyTorch, checked against its numpy reference")
    exp.add_argument("--study", help="a study to take the network from (its task, data, seed)")
    exp.add_argument("--storage", help="the study's storage (default RUNS/<study>/study.db)")
    exp.add_argument("--runs", default="runs",
                     help="the --out that 'dse run' was given, the parent of the study's folder "
                          "(default runs)")
    exp.add_argument("--row", type=positive_int, help="the N-th row of the study's pareto.csv")
    exp.add_argument("--arch", "-a", help="architecture, e.g. lstm:64 (with --dtype)")
    exp.add_argument("--dtype", choices=DTYPES, help="deployment dtype (default int8)")
    exp.add_argument("--task", help="built-in task, for a direct export")
    exp.add_argument("--data", help=".npz data file, for a direct export")
    exp.add_argument("--seed", type=seed, default=SETTINGS["seed"].default,
                     help="data and training seed (direct export)")
    exp.add_argument("--out", "-o", required=True,
                     help="the folder the export files go into, itself (new or empty, unless "
                          "--force); not a parent as for 'dse run --out'")
    exp.add_argument("--force", action="store_true",
                     help="replace the export files in a non-empty folder")
    exp.add_argument("--format", nargs="+", choices=FORMATS, metavar="FORMAT",
                     help="c, onnx, torch (default: all; onnx where installed)")
    exp.add_argument("--prefix", default="dse_", help="prefix of the C names (default dse_)")
    exp.add_argument("--seeds", type=whole(1, 64), default=FINAL_SEEDS,
                     help=f"final trainings, the best on validation kept (default {FINAL_SEEDS})")
    exp.add_argument("--epochs", type=typed(SETTINGS["epochs"]), help="epochs of the final training")
    exp.add_argument("--profile", "-p", help="profile for the cost report (default: the study's)")
    exp.add_argument("--runtime", help="the profile's runtime for the cost report")
    exp.add_argument("--measure", action="store_true",
                     help="then build the C for the profile's core and emulate it (dse measure)")
    exp.add_argument("--json", action="store_true", help="print export.json")
    exp.set_defaults(func=_cmd_export)

    meas = verbs.add_parser("measure", help="build an export for the profile's Cortex-M core, "
                                            "run it in an emulator, compare with the cost model")
    meas.add_argument("folder", help="a folder written by dse export")
    meas.add_argument("--profile", "-p", help="profile (default: the one the export was priced on)")
    meas.add_argument("--runtime", help="the runtime to predict with (default: dse-c if the "
                                        "profile has it)")
    meas.add_argument("--qemu", action="store_true",
                      help="also run the image in QEMU and compare (Cortex-M0+ on microbit, M3, "
                           "M4, M7 on MPS2 boards; otherwise says why not)")
    meas.add_argument("--json", action="store_true", help="print one JSON object")
    meas.set_defaults(func=_cmd_measure)

    cal = verbs.add_parser("calibrate", help="fit the dse-c runtime's constants to emulated runs "
                                             "of the exported C on a profile's core")
    cal.add_argument("--profile", "-p", action="append", required=True,
                     help="profile name or .toml path (repeatable; one fit per core)")
    cal.add_argument("--write", action="store_true",
                     help="write the fitted [runtimes.dse-c] into each profile file")
    cal.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    cal.add_argument("--json", action="store_true", help="print the fits as JSON")
    cal.set_defaults(func=_cmd_calibrate)


def _export_request(args: argparse.Namespace) -> ExportRequest:
    """The network to export (a study's, or one named directly), its options checked
    before any training."""
    from dse import handoff
    from dse.export.bundle import check_folder, check_options, default_formats

    formats = tuple(args.format) if args.format else default_formats()
    check_options(formats, args.prefix)
    if Path(args.out).exists():  # refused now rather than after the training
        check_folder(Path(args.out), force=args.force)
    options = {"formats": formats, "prefix": args.prefix, "seeds": args.seeds,
               "epochs": args.epochs, "runtime": args.runtime}
    if args.study:
        from dse.runner import sqlite_url

        if args.task or args.data:
            raise DseError("dse export: --study reuses the study's task or data; drop "
                           "--task/--data (or export directly without --study).")
        storage = args.storage or sqlite_url(Path(args.runs) / args.study / "study.db")
        return handoff.request_from_study(args.study, storage, row=args.row, arch=args.arch,
                                          dtype=args.dtype, profile=args.profile, **options)
    if args.arch is None or args.row is not None:
        raise DseError("dse export: give --study NAME (with --row N or --arch A), or --arch A "
                       "with --task NAME or --data FILE.npz.")
    return handoff.request_from_task(args.arch, load_data(args), dtype=args.dtype or "int8",
                                     seed=args.seed, profile=args.profile, **options)


def _cmd_export(args: argparse.Namespace) -> None:
    from dse.export.bundle import export

    request = _export_request(args)
    target = _measure_target(request) if args.measure else None
    report = export(request, Path(args.out), force=args.force)
    measured = None
    if target:
        from dse.measure.session import measure

        measured = measure(Path(args.out), target, runtime=args.runtime)
    if args.json:
        print_json(report if measured is None else dict(report, measure=measured))
        return
    acc, search = report["accuracy"], report["search"]
    print(f"exported {report['arch']} ({report['dtype']}), trained on {report['data']['name']} "
          f"(best of {len(report['training']['seeds'])} seeds), to {args.out}/ in "
          f"{report['seconds']:.1f} s")
    print(f"test accuracy: float {acc['float']:.3f}, quantized {acc['quantized']:.3f} "
          f"(the network as the C computes it); the search's short proxy gave "
          f"{search['accuracy']:.3f} float, {search['accuracy_quantized']:.3f} quantized")
    for name, check in report["checks"].items():
        label = {"c_host": "C (host build)", "onnx": "ONNX", "torch": "PyTorch"}[name]
        if not check["checked"]:
            print(f"{label}: written, not checked ({check['reason']})")
        elif name == "c_host":
            kind = "bit for bit" if report["dtype"] != "float32" else "to 1e-5"
            print(f"{label}: equal to the numpy network {kind} on {check['windows']} test "
                  f"windows ({check['compiler']}); streaming API equal")
        else:
            print(f"{label}: equal to the numpy network on {check['windows']} test windows "
                  f"(max relative difference {check['max_relative_difference']:.1e})")
    if report["cost"]:
        cost, generated = report["cost"], report["cost_generated"]
        print(f"cost model on {cost['profile']} ({priced_by(cost['runtime'], cost['basis'])}): "
              f"{cost['latency_ms']:.2f} ms, {kib(cost['flash_bytes'])} flash, "
              f"{kib(cost['ram_bytes'])} RAM")
        if generated:
            print(f"note: priced for {cost['runtime']} ({cost['basis']}, "
                  f"{cost['latency_ms']:.2f} ms), which dse does not generate; the C written "
                  f"here is {generated['runtime']} ({generated['basis']}): "
                  f"{generated['latency_ms']:.2f} ms")
    print(f"files: {', '.join(report['files'])}, export.json")
    if measured:
        print()
        print(format_measurement(measured))


def _measure_target(request: ExportRequest) -> HardwareProfile:
    """The profile ``--measure`` builds for, refused now rather than after the training if
    it or the tools are missing."""
    from dse.measure.build import compiler
    from dse.measure.cores import core_of
    from dse.measure.emulator import require_unicorn

    if request.profile is None:
        raise DseError("dse export --measure: name the profile to build for with --profile P.")
    core_of(request.profile), compiler(), require_unicorn()
    return request.profile


def _measure_profile(args: argparse.Namespace, folder: Path) -> HardwareProfile:
    """The profile to measure on: --profile, else the one the export was priced on."""
    import json

    if args.profile:
        return load_profile(args.profile)
    report = folder / "export.json"
    cost = json.loads(report.read_text()).get("cost") if report.is_file() else None
    if not cost:
        raise DseError(f"dse measure: name the profile to build for with --profile P (the "
                       f"export in {folder} was not priced on one).")
    return load_profile(cost["profile"])


def _cmd_measure(args: argparse.Namespace) -> None:
    from dse.measure.session import measure

    folder = Path(args.folder)
    result = measure(folder, _measure_profile(args, folder), runtime=args.runtime, qemu=args.qemu)
    if args.json:
        print_json(result)
        return
    print(format_measurement(result))


def format_measurement(result: dict) -> str:
    """Predicted (cost model) against measured (emulation), with the ratios."""
    measured, predicted = result["measured"], result["predicted"]
    rows = [[label, format(predicted[key], spec), format(measured[key], spec),
             result["ratios"][key]]
            for label, key, spec in (("flash B", "flash_bytes", ",.0f"),
                                     ("RAM B", "ram_bytes", ",.0f"),
                                     ("cycles", "cycles", ",.0f"),
                                     ("latency ms", "latency_ms", ",.3f"),
                                     ("energy uJ", "energy_uj", ",.2f"))]
    logits = result["logits"]
    host = {True: "equal to the host build bit for bit", False: "NOT equal to the host build",
            None: "no host compiler to compare with"}[logits["equal_host_build"]]
    loop = result["inner_loop"]
    lines = [
        f"{result['arch']} ({result['dtype']}) on {result['profile']}: {result['core']}, "
        f"image {result['elf']}",
        "",
        table(["", f"predicted ({priced_by(result['runtime'], result['cost_basis'])})",
               "measured (emulated)", "ratio"], rows,
              formats=["", "", "", ".3f"]),
        "",
        f"RAM measured = {measured['static_ram_bytes']:,} B static + {measured['stack_bytes']:,} B "
        f"stack; flash = the model's text, rodata and data ({measured['harness_flash_bytes']:,} B "
        f"of harness not counted)",
        f"{measured['instructions']:,} instructions for one inference "
        f"({measured['instructions_total']:,} from reset to exit)",
    ]
    if loop:
        lines.append(f"inner loop: {loop['macs']} MACs in {loop['instructions']} instructions, "
                     f"{loop['cycles']:g} cycles ({loop['macs_per_cycle']:.2f} MACs per cycle)")
    lines += [f"logits of {logits['windows']} golden windows: "
              f"{'equal to' if logits['equal_golden'] else 'NOT equal to'} the export's; {host}"]
    if result["qemu"]:
        lines.append(_qemu_line(result["qemu"], measured_elf=result["elf"]))
    lines += [
              f"timing table: {result['timing_table']}",
              f"note: {result['note']}"]
    return "\n".join(lines)


def _qemu_line(qemu: dict, *, measured_elf: str) -> str:
    """What the QEMU cross-check gave, or why it could not run."""
    if not qemu["ran"]:
        return f"QEMU: not run, {qemu['reason']}"
    relinked = ", the same objects linked for its memory" if qemu["elf"] != measured_elf else ""
    if qemu["exit_code"] is None:
        return f"QEMU ({qemu['machine']}{relinked}): {qemu['reason']}"
    return (f"QEMU ({qemu['machine']}{relinked}): exit {qemu['exit_code']}, logits "
            f"{'the same bits' if qemu['equal_emulated'] else 'DIFFERENT'} as unicorn's")


def _cmd_calibrate(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from dse.calibrate import calibrate, grid
    from dse.measure.cores import core_of

    profiles = [load_profile(name) for name in args.profile]
    cores = {core_of(profile).name for profile in profiles}
    bar = tqdm(total=len(grid()) * len(cores), unit="run", desc="emulating",
               disable=args.no_progress or args.json)
    results = calibrate(profiles, write=args.write, on_sample=lambda _: bar.update())
    bar.close()
    if args.json:
        print_json([{"profile": profile.name, "core": fit.core, "written": args.write,
                     "fit": asdict(fit)} for profile, fit in results])
        return
    for profile, fit in results:
        rt = fit.runtime
        rows = [[dtype, rt.macs_per_cycle[dtype], rt.cycles_per_elementwise[dtype],
                 rt.cycles_per_activation[dtype], rt.per_step_overhead_cycles[dtype],
                 rt.per_op_overhead_cycles[dtype], rt.cycles_per_input[dtype]]
                for dtype in DTYPES]
        print(f"{profile.name} ({fit.core}): {fit.samples} emulated architectures; cycles "
              f"reproduced to {100 * fit.cycle_errors['max']:.1f} % at most (median "
              f"{100 * fit.cycle_errors['median']:.1f} %), flash to "
              f"{100 * fit.flash_errors['max']:.1f} %, RAM with the stack to "
              f"{100 * fit.ram_errors['max']:.1f} %")
        print(table(["dtype", "MAC/cycle", "cyc/elementwise", "cyc/activation", "cyc/step",
                     "cyc/inference", "cyc/input"], rows,
                    formats=["", ".3g", ".3g", ".3g", ".4g", ".4g", ".3g"]))
        print(f"{'written to' if args.write else 'not written (add --write):'} {profile.path}")
