"""pytest plugin: the LSTM conformance suite as test items inside any pytest run.

    pytest --lstm-impl=mypkg.adapter:make            # or a built-in name, e.g. --lstm-impl=numpy
    pytest --lstm-impl=numpy --lstm-dtype=float64,float32 --lstm-cases='base-*' -k T12

`LSTM_IMPL` stands in for --lstm-impl. Without either the plugin does nothing: no
items, no header line (it is registered through the `pytest11` entry point, so it
is loaded in every pytest run where lstm-conformance is installed).

Each golden case at each dtype is one item, `lstm-conformance[<dtype>-<case id>]`,
judged by the runner's own `run_case` (the same verdicts, reasons and tolerances as
`tools/conformance.py`). The adapter is built once per session, in one worker
process (or in-process with --lstm-no-isolation), and closed at the session's end.

A session in which no conformance case was judged (every case skipped, or none
selected) fails, as the command line's NOT RUN does: decided once, at the end of the
session, on the controller when pytest-xdist distributes the items.

The heavy modules (numpy, the spec loader, the runner) are imported only when the
plugin is active, so that an inactive plugin costs a pytest run nothing.
"""
from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import paths

if TYPE_CHECKING:
    from .cases.golden import GoldenCase
    from .run.runner import CaseResult
    from .spec.loader import Spec

ENV_VAR = "LSTM_IMPL"
SUITE = "lstm-conformance"            # the collector's name and node id; items are SUITE[<dtype>-<case id>]
PLUGIN_NAME = "lstm-conformance-run"  # the active session state, as registered with the plugin manager
DEFAULT_DTYPE = "float64"
HELP_TIMEOUT = 60  # the runner's DEFAULT_TIMEOUT, for --help (the runner is not imported until needed)
HELP_START_TIMEOUT = 120  # the executor's DEFAULT_START_TIMEOUT, likewise
STATUS_PROPERTY = "lstm_conformance_status"  # user property of each item: the runner's status for the case
REASON_PROPERTY = "lstm_conformance_reason"  # and its first reason


@dataclass(frozen=True)
class Settings:
    """The plugin's options as given: the implementation and where it was named."""

    ref: str
    source: str                      # "--lstm-impl" or "LSTM_IMPL", for messages
    dtypes: tuple[str, ...]          # raw --lstm-dtype values (each may be a comma list)
    patterns: tuple[str, ...]        # --lstm-cases globs; empty: every case
    timeout: float | None
    start_timeout: float | None
    isolate: bool


# ---------------------------------------------------------------- hooks of the module (always registered)

def pytest_addoption(parser: pytest.Parser) -> None:
    """The --lstm-* options, mirroring tools/conformance.py."""
    group = parser.getgroup("lstm-conformance", "LSTM conformance suite (lstm_conformance)")
    group.addoption("--lstm-impl", metavar="REF", default=None,
                    help=f"run the conformance suite against REF: a built-in name (e.g. numpy) or MODULE:ATTR "
                         f"naming a zero-argument callable that returns an adapter (default: ${ENV_VAR}; "
                         f"neither: the suite is not run)")
    group.addoption("--lstm-dtype", action="append", metavar="DTYPE[,DTYPE...]", default=None,
                    help=f"dtype(s) under test, repeatable or a comma list (default {DEFAULT_DTYPE}; "
                         f"float64, float32, float16 as the spec's tolerances allow)")
    group.addoption("--lstm-cases", action="append", metavar="GLOB", default=None,
                    help="only golden cases whose id matches GLOB (repeatable)")
    group.addoption("--lstm-timeout", type=float, metavar="SECONDS", default=None,
                    help=f"seconds per case before it is reported as hung (default {HELP_TIMEOUT:g})")
    group.addoption("--lstm-start-timeout", type=float, metavar="SECONDS", default=None,
                    help=f"seconds to import and build the adapter (default {HELP_START_TIMEOUT:g})")
    group.addoption("--lstm-no-isolation", action="store_true", default=False,
                    help="run the implementation in this process (a thread per call) instead of a worker process; "
                         "sys.exit and os._exit are refused there, but the adapter is trusted not to monkeypatch "
                         "NumPy or end the process from C code (the worker is immune to both)")


def pytest_configure(config: pytest.Config) -> None:
    """Activate the suite when --lstm-impl or LSTM_IMPL names an implementation."""
    settings = read_settings(config)
    if settings is not None:
        config.pluginmanager.register(ConformanceRun(settings), PLUGIN_NAME)


def read_settings(config: pytest.Config) -> Settings | None:
    """The options, or None when neither --lstm-impl nor LSTM_IMPL is given."""
    ref = config.getoption("lstm_impl")
    source = "--lstm-impl"
    if ref is None:
        ref, source = os.environ.get(ENV_VAR, "").strip(), ENV_VAR
        if not ref:
            return None
    return Settings(ref=ref, source=source, dtypes=tuple(config.getoption("lstm_dtype") or ()),
                    patterns=tuple(config.getoption("lstm_cases") or ()),
                    timeout=config.getoption("lstm_timeout"), start_timeout=config.getoption("lstm_start_timeout"),
                    isolate=not config.getoption("lstm_no_isolation"))


# ---------------------------------------------------------------- option checks (each raises pytest.UsageError)

def parse_dtypes(values: tuple[str, ...], allowed: list[str]) -> tuple[str, ...]:
    """--lstm-dtype values (repeated and/or comma lists) as unique names from `allowed`."""
    names = [d.strip() for value in values for d in value.split(",") if d.strip()] if values else [DEFAULT_DTYPE]
    bad = [d for d in names if d not in allowed]
    if bad or not names:
        given = ",".join(values)
        raise pytest.UsageError(f"--lstm-dtype={given!r}, but should be one or more of {allowed} "
                                f"(repeat the option or separate them with commas)")
    return tuple(dict.fromkeys(names))


def parse_timeout(value: float | None, option: str = "--lstm-timeout", default: float | None = None) -> float:
    """--lstm-timeout (or --lstm-start-timeout) in (0, MAX_TIMEOUT], or the runner's default."""
    from .run.runner import DEFAULT_TIMEOUT, MAX_TIMEOUT, check_timeout

    timeout = (DEFAULT_TIMEOUT if default is None else default) if value is None else value
    try:
        check_timeout(timeout)
    except ValueError:
        raise pytest.UsageError(f"{option}={value!r}, but should be a number of seconds "
                                f"in (0, {MAX_TIMEOUT:g}]") from None
    return timeout


def select_cases(cases: list[GoldenCase], patterns: tuple[str, ...]) -> list[GoldenCase]:
    """The cases whose id matches any --lstm-cases glob (all of them without one)."""
    if not patterns:
        return list(cases)
    chosen = [c for c in cases if any(fnmatch.fnmatchcase(c.id, p) for p in patterns)]
    if not chosen:
        raise pytest.UsageError(f"--lstm-cases={list(patterns)!r} matches no golden case, but should match "
                                f"at least one of {[c.id for c in cases]}")
    return chosen


def start_executor(settings: Settings, start_timeout: float) -> Any:
    """The one executor of the session: a worker process, or a thread with --lstm-no-isolation."""
    from .run.adapters import BUILTIN, AdapterError, resolve
    from .run.runner import open_executor

    expected = (f"a built-in name ({', '.join(sorted(BUILTIN))}) or MODULE:ATTR naming a zero-argument "
                f"callable that returns an adapter")
    option = f"{settings.source}={settings.ref!r}"
    try:
        resolve(settings.ref)
    except AdapterError:
        raise pytest.UsageError(f"{option}, but should be {expected}") from None
    try:
        return open_executor(settings.ref, settings.isolate, start_timeout)[0]
    except AdapterError as exc:
        # the adapters module speaks of the CLI's --impl; say the option the user gave
        text = str(exc).replace(f"--impl={settings.ref!r}", option)
        raise pytest.UsageError(f"{option}: the adapter could not be built: {text} (expected a MODULE:ATTR that "
                                f"imports and whose zero-argument callable returns an adapter)") from None


def load_suite(spec_file: Path, golden_dir: Path) -> tuple[Spec, list[GoldenCase]]:
    """The spec and every golden case, verified as the runner verifies them."""
    from .cases.golden import GoldenError, load_golden
    from .spec.loader import SpecError, load_spec

    try:
        spec = load_spec(spec_file)
        return spec, load_golden(golden_dir, None, spec)
    except (SpecError, GoldenError) as exc:
        raise pytest.UsageError(f"lstm-conformance: the spec {spec_file} or the goldens in {golden_dir} "
                                f"cannot be used: {exc}") from None


# ---------------------------------------------------------------- the active session

class ConformanceRun:
    """The session's conformance state (spec, cases, dtypes, executor) and the hooks that use it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.spec_file, self.golden_dir = paths.spec_file(), paths.golden_dir()
        self.spec: Spec | None = None
        self.all_cases: list[GoldenCase] = []
        self.cases: list[GoldenCase] = []
        self.dtypes: tuple[str, ...] = ()
        self.timeout = 0.0
        self.executor: Any = None
        self.impl_name = ""
        self.statuses: dict[str, int] = {}   # runner status -> items, from the reports (the controller's, too)
        self.skip_reasons: dict[str, int] = {}
        self.not_run: str | None = None      # why the session failed for judging nothing, once decided

    def start(self) -> None:
        """Check every option, load the spec and goldens, and build the adapter (once)."""
        from .judge.compare import DTYPES

        from .run.executor import DEFAULT_START_TIMEOUT

        self.timeout = parse_timeout(self.settings.timeout)
        start_timeout = parse_timeout(self.settings.start_timeout, "--lstm-start-timeout", DEFAULT_START_TIMEOUT)
        self.spec, self.all_cases = load_suite(self.spec_file, self.golden_dir)
        self.dtypes = parse_dtypes(self.settings.dtypes, [d for d in DTYPES if d in self.spec.dtypes])
        self.cases = select_cases(self.all_cases, self.settings.patterns)
        self.executor = start_executor(self.settings, start_timeout)
        self.impl_name = self.executor.name

    def close(self) -> None:
        """End the worker (idempotent)."""
        executor, self.executor = self.executor, None
        if executor is not None:
            executor.close()

    def run(self, case: GoldenCase, dtype: str) -> CaseResult:
        """One case at one dtype, judged by the runner."""
        from .run.runner import run_case

        if self.executor is None:
            raise RuntimeError("lstm-conformance: the session's executor is closed (the session has ended)")
        return run_case(self.executor, self.spec, case, dtype, self.timeout)

    def header(self) -> str:
        """One line: implementation, dtypes, spec version, case count, where spec and goldens came from."""
        s = self.settings
        count = f"{len(self.cases)} golden cases"
        if s.patterns:
            count += f" of {len(self.all_cases)} (--lstm-cases {' '.join(s.patterns)})"
        where = "" if s.isolate else ", in-process (--lstm-no-isolation)"
        return (f"lstm-conformance: {self.impl_name} [{s.source}={s.ref}], dtype {', '.join(self.dtypes)}, "
                f"spec {self.spec.version}, {count}, spec {self.spec_file}, goldens {self.golden_dir}{where}")

    # -- hooks

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        session.config.add_cleanup(self.close)
        self.start()

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        return [self.header()] if self.spec is not None else []

    @pytest.hookimpl(hookwrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Iterator[None]:
        """Add the suite to the session's own collection, whatever files the run collects."""
        outcome = yield
        report = outcome.get_result()
        if isinstance(collector, pytest.Session) and report.passed:
            report.result.append(ConformanceSuite.from_parent(collector, name=SUITE, nodeid=SUITE, conformance=self))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Count the runner's statuses of the conformance items (under xdist the controller sees every report)."""
        props = dict(report.user_properties)
        if report.when != "call" or STATUS_PROPERTY not in props:
            return
        status = props[STATUS_PROPERTY]
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status == "skipped":
            reason = props.get(REASON_PROPERTY) or "no reason given"
            self.skip_reasons[reason] = self.skip_reasons.get(reason, 0) + 1

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """End the worker; on the controller, fail a session in which no conformance case was judged."""
        self.close()
        config = session.config
        if hasattr(config, "workerinput") or config.option.collectonly:  # an xdist worker: the controller decides
            return
        if self.spec is None or session.exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED,
                                                           pytest.ExitCode.NO_TESTS_COLLECTED):
            return  # the suite never started, or the session was interrupted: that is what it reports
        if self.statuses.get("passed", 0) + self.statuses.get("failed", 0):
            return
        self.not_run = self.not_run_reason()
        if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def not_run_reason(self) -> str:
        """Why nothing was judged: "21 skipped: torch is not installed ...", or that no item ran."""
        ran = sum(self.statuses.values())
        if not ran:
            return "no conformance case ran (were they all deselected, or did collection stop?)"
        skipped = self.statuses.get("skipped", 0)
        reason = max(self.skip_reasons, key=self.skip_reasons.get) if self.skip_reasons else "no reason given"
        return f"{skipped} skipped: {reason}" + (f" ({skipped - self.skip_reasons[reason]} for other reasons)"
                                                  if self.skip_reasons and self.skip_reasons[reason] < skipped else "")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.not_run is not None:
            terminalreporter.write_sep("=", f"lstm-conformance NOT RUN: nothing was judged, {self.not_run} "
                                            f"[{self.settings.source}={self.settings.ref}]", red=True)


class ConformanceSuite(pytest.Collector):
    """The golden cases at each dtype under test."""

    def __init__(self, *, conformance: ConformanceRun, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conformance = conformance

    def collect(self) -> Iterator[ConformanceItem]:
        for dtype in self.conformance.dtypes:
            for case in self.conformance.cases:
                yield ConformanceItem.from_parent(self, name=f"{SUITE}[{dtype}-{case.id}]", case=case, dtype=dtype)


class ConformanceItem(pytest.Item):
    """One golden case at one dtype."""

    def __init__(self, *, case: GoldenCase, dtype: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case, self.dtype = case, dtype

    def runtest(self) -> None:
        conformance: ConformanceRun = self.parent.conformance
        result = conformance.run(self.case, self.dtype)
        self.user_properties.append((STATUS_PROPERTY, result.status))
        self.user_properties.append((REASON_PROPERTY, result.reasons[0] if result.reasons else ""))
        for attr in ("max_abs_err", "max_rel_err", "max_ulp"):
            self.user_properties.append((attr, result.worst(attr)))
        check_result(result, conformance.impl_name, self.dtype, conformance.spec.tolerance(self.dtype))

    def reportinfo(self) -> tuple[Path, None, str]:
        return self.case.path, None, self.name


def check_result(result: CaseResult, impl: str, dtype: str, tolerance: tuple[float, float]) -> None:
    """Pass, skip or fail the current test as the runner judged the case."""
    if result.status == "passed":
        return
    if result.status == "skipped":
        pytest.skip("; ".join(result.reasons) or "skipped")
    pytest.fail(failure_text(result, impl, dtype, tolerance), pytrace=False)


def failure_text(result: CaseResult, impl: str, dtype: str, tolerance: tuple[float, float]) -> str:
    """The judge's reasons, one a line (the first is pytest's one-line summary), and the worst errors."""
    reasons = list(result.reasons) or [f"{result.status} without a reason [case {result.id}]"]
    summary = f"{result.status.upper()}: {impl} at {dtype}, case {result.id}"
    if result.status == "error":  # the implementation raised, hung or died: there are no errors to show
        return "\n".join([f"adapter error: {reasons[0]}", *reasons[1:], summary])
    worst = ", ".join(f"{label} {_fmt(result.worst(attr))}" for label, attr in
                      (("max abs err", "max_abs_err"), ("max rel err", "max_rel_err"), ("max ULP", "max_ulp")))
    atol, rtol = tolerance
    return "\n".join([*reasons, f"{summary}: {worst}; tolerance atol={atol:g} rtol={rtol:g}"])


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"
