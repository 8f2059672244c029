"""One bot pass: read what is new, decide which series are ready, review
them one by one in a worker process, deliver the outputs, send by SMTP.

    recover()  series a killed run left in analyzing / delivering
    ingest()   every source up to its end; each batch and its cursor in one transaction
    ready()    complete series, and incomplete ones past the grace period
    review()   worker → outputs stored → files written → replied
    send()     replies of replied series, when SMTP is configured

Readiness is decided only after every source has been read to its end, so
the same archive gives the same decisions however often a run is killed.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import smtplib
import subprocess
import sys
import time
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import IO, Any

from kvmplan.bot import outbox as box
from kvmplan.bot import smtp
from kvmplan.bot.config import BotConfig
from kvmplan.bot.log import Log
from kvmplan.bot.sources import Incoming, Source, SourceError
from kvmplan.bot.state import Output, SeriesRow, State
from kvmplan.bot.track import classify, mboxrd, oversized, unreadable
from kvmplan.bot.worker import die_with_parent
from kvmplan.mail.series import format_ranges

WORK = ".kvmplan-work"
LOCK = ".kvmplan-bot.lock"
CRASH_ENV = "KVMPLAN_BOT_CRASH"   # fault injection for the tests: "point" or "point:n"


class BotError(Exception):
    """The bot can't start (one line)."""


@dataclass
class PassStats:
    read: int = 0
    new: int = 0
    duplicates: int = 0
    conflicts: int = 0
    too_large: int = 0
    reviewed: int = 0
    replies: int = 0
    marked: int = 0
    sent: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def _group_of_ours(pgid: int) -> bool:
    """Whether a process of group `pgid` still runs a kvmplan worker."""
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) == pgid and b"kvmplan.bot.worker" in (entry / "cmdline").read_bytes():
                return True
        except (OSError, ValueError, IndexError):
            continue
    return False


class Bot:
    def __init__(self, sources: list[Source], outbox: Path, state_path: Path, cfg: BotConfig,
                 log: Log) -> None:
        self.sources = sources
        self.outbox = outbox
        self.cfg = cfg
        self.log = log
        self.stats = PassStats()
        self._hits: dict[str, int] = {}
        self._crash = os.environ.get(CRASH_ENV, "")
        try:
            box.ensure(outbox)
            (outbox / WORK).mkdir(exist_ok=True)
            self._lock: IO[str] = open(outbox / LOCK, "a+")
        except OSError as exc:
            raise BotError(f"{outbox}: cannot use as outbox: {exc.strerror or exc}") from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            raise BotError(f"{outbox}: another kvmplan bot is running on this outbox") from None
        # the state too: two bots with different outboxes and one state
        # would each review (and mail) the same series
        try:
            self._state_lock: IO[str] = open(f"{state_path}.lock", "a+")
            fcntl.flock(self._state_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            raise BotError(f"{state_path}: another kvmplan bot is using this state") from None
        self.state = State(state_path)

    def close(self) -> None:
        self.state.close()
        self._state_lock.close()
        self._lock.close()

    # -- fault injection -----------------------------------------------------

    def crashpoint(self, name: str) -> None:
        if not self._crash:
            return
        point, _, n = self._crash.partition(":")
        if point != name:
            return
        self._hits[name] = self._hits.get(name, 0) + 1
        if self._hits[name] >= int(n or 1):
            os.kill(os.getpid(), signal.SIGKILL)

    # -- one pass ------------------------------------------------------------

    def run_pass(self, final: bool) -> PassStats:
        self.stats = PassStats()
        t0 = time.monotonic()
        self.recover()
        self.ingest(final)
        t1 = time.monotonic()
        self.stats.seconds["ingest"] = round(t1 - t0, 3)
        for row in self.ready():
            self.review(row)
        t2 = time.monotonic()
        self.stats.seconds["review"] = round(t2 - t1, 3)
        self.send()
        self.stats.seconds["send"] = round(time.monotonic() - t2, 3)
        counts = self.state.counts()
        self.log.info("pass.end", read=self.stats.read, new=self.stats.new,
                      duplicates=self.stats.duplicates, conflicts=self.stats.conflicts,
                      too_large=self.stats.too_large, reviewed=self.stats.reviewed,
                      replies=self.stats.replies, marked=self.stats.marked, sent=self.stats.sent,
                      series=counts, seconds=self.stats.seconds)
        self.log.progress(self._progress_text(), force=True)
        self.log.end_progress()
        return self.stats

    def _progress_text(self, doing: str = "") -> str:
        c = self.state.counts()
        done = c["replied"] + c["limit"] + c["failed"] + c["skipped"]
        text = (f"{self.stats.read} mails read ({self.stats.new} new); series: {c['waiting']} "
                f"waiting, {done} done ({c['replied']} replied)")
        return f"{text}; {doing}" if doing else text

    # -- recovery ------------------------------------------------------------

    def recover(self) -> None:
        for row in self.state.series_in("analyzing"):
            if row.worker and _group_of_ours(row.worker):
                try:
                    os.killpg(row.worker, signal.SIGKILL)
                except OSError:
                    pass
                self.log.warning("worker.killed", series=row.key, pgid=row.worker,
                                 why="left running by a killed bot")
            with self.state.transaction() as db:
                State.set_status(db, row.key, "waiting", worker=None)
            self.log.info("series.resumed", series=row.key, title=row.title,
                          why="a previous run stopped during its analysis")
        for row in self.state.series_in("delivering"):
            self.log.info("series.resumed", series=row.key, title=row.title,
                          why="a previous run stopped while writing its outputs")
            self._deliver(row)

    # -- ingest --------------------------------------------------------------

    def ingest(self, final: bool) -> None:
        for src in self.sources:
            cursor = self.state.cursor(src.name)

            def seen(item: str, name: str = src.name) -> bool:
                return self.state.seen_item(name, item)

            try:
                for batch in src.scan(cursor, final=final, seen=seen, batch_size=self.cfg.batch):
                    for note in batch.notes:
                        self.log.warning("source.note", source=src.name, note=note)
                    with self.state.transaction() as db:
                        for inc in batch.messages:
                            self._file(db, inc)
                        State.save_cursor(db, src.name, batch.cursor, batch.items)
                    self.crashpoint("ingest")
                    self.log.progress(self._progress_text("reading"))
            except SourceError as exc:
                # What was read stays read (its cursor is saved); the next
                # pass starts from there.
                self.log.error("source.unreadable", source=src.name, why=str(exc))

    def _file(self, db: Any, inc: Incoming) -> None:
        self.stats.read += 1
        size = len(inc.raw)
        try:
            if size > self.cfg.max_message_bytes:
                a = oversized(inc.raw, inc.origin)
            else:
                a = classify(inc.raw, inc.origin)
        except Exception as exc:  # noqa: BLE001 - one bad mail must not stop the list
            self.log.error("message.unreadable", origin=inc.origin,
                           why=f"{type(exc).__name__}: {exc}"[:200])
            a = unreadable(inc.raw)
        hashes = State.known(db, a.msgid)
        if a.hash in hashes:
            self.stats.duplicates += 1
            return
        self.stats.new += 1
        if hashes:
            self.stats.conflicts += 1
            self.log.warning("message.conflict", msgid=a.msgid, origin=inc.origin,
                             why="same Message-ID as an earlier mail with other content; "
                                 "the first one is kept")
            State.add_message(db, msgid=a.msgid, hash=a.hash, kind="conflict", subject=a.subject,
                              date=a.date, origin=inc.origin, series=None, idx=None, raw=None)
            return
        if a.kind == "too-large":
            self.stats.too_large += 1
            self.log.warning("message.too-large", msgid=a.msgid, origin=inc.origin, bytes=size,
                             limit=self.cfg.max_message_bytes)
        sid = a.series
        if sid is not None:
            before = self.state.series(sid.key)
            State.touch_series(db, key=sid.key, root=sid.root, version=sid.version,
                               expected=sid.expected, sender=sid.sender, title=a.title,
                               date=a.date, cover=a.kind == "cover")
            if before is not None and before.status != "waiting":
                self.log.warning("series.late", series=sid.key, title=before.title, msgid=a.msgid,
                                 patch=a.idx, status=before.status,
                                 why="arrived after the series was decided; not reviewed again")
            elif before is None:
                self.log.info("series.new", series=sid.key, title=a.title, version=sid.version,
                              expected=sid.expected, sender=sid.sender)
            if before is None or before.status == "waiting":
                reason = ""
                if a.kind == "too-large":
                    reason = (f"mail <{a.msgid}> is {size} bytes, over max_message_bytes "
                              f"{self.cfg.max_message_bytes}")
                elif sid.expected > self.cfg.max_patches:
                    reason = f"{sid.expected} patches, over max_patches {self.cfg.max_patches}"
                if reason:
                    State.set_status(db, sid.key, "limit", reason)
                    self.stats.marked += 1
                    self.log.warning("series.limit", series=sid.key, title=a.title, why=reason)
        keep = a.kind in ("cover", "patch")
        State.add_message(db, msgid=a.msgid, hash=a.hash, kind=a.kind, subject=a.subject,
                          date=a.date, origin=inc.origin, series=sid.key if sid else None,
                          idx=a.idx, raw=inc.raw if keep else None)

    # -- readiness -----------------------------------------------------------

    def ready(self) -> list[SeriesRow]:
        now = time.time()
        clock = self.state.archive_clock(now + 86400)
        out = []
        for row in self.state.series_in("waiting"):
            indexes = self.state.indexes(row.key)
            missing = [k for k in range(1, row.expected + 1) if k not in indexes]
            if missing:
                overdue = now - row.last_seen >= self.cfg.grace or (
                    clock is not None and row.last_date is not None
                    and clock - row.last_date >= self.cfg.grace)
                if not overdue:
                    continue
                if not indexes:
                    with self.state.transaction() as db:
                        State.set_status(db, row.key, "skipped", "no patch of the series arrived")
                    self.log.info("series.skipped", series=row.key, title=row.title,
                                  why="no patch of the series arrived")
                    continue
            out.append(row)
        return out

    # -- review --------------------------------------------------------------

    def review(self, row: SeriesRow) -> None:
        started = time.monotonic()
        with self.state.transaction() as db:
            State.set_status(db, row.key, "analyzing", "", worker=None)
        self.crashpoint("analyzing")
        self.log.progress(self._progress_text(f"analysing {row.title[:50]}"), force=True)
        result, failure = self._analyse(row)
        seconds = round(time.monotonic() - started, 1)
        if failure is not None:
            kind, why = failure
            if kind == "timeout":
                with self.state.transaction() as db:
                    State.set_status(db, row.key, "limit", why, worker=None)
                self.stats.marked += 1
                self.log.warning("series.limit", series=row.key, title=row.title, why=why)
                return
            attempts = row.attempts + 1
            status = "failed" if attempts >= self.cfg.max_attempts else "waiting"
            with self.state.transaction() as db:
                State.set_status(db, row.key, status, why, attempts=attempts, worker=None)
            self.log.error("series.analysis-failed", series=row.key, title=row.title, why=why,
                           attempt=attempts, will_retry=status == "waiting")
            return
        assert result is not None
        if result["status"] != "ok":
            with self.state.transaction() as db:
                State.set_status(db, row.key, "skipped", result["reason"], worker=None)
            self.log.info("series.skipped", series=row.key, title=row.title, why=result["reason"])
            return
        outputs = [Output(o["path"], o["kind"], o["msgid"], o["text"].encode("utf-8"))
                   for o in result["outputs"]]
        summary = result["summary"]
        with self.state.transaction() as db:
            State.store_outputs(db, row.key, outputs)
            if self.cfg.smtp is not None:
                State.queue_sends(db, row.key, [o for o in outputs if o.kind == "reply"])
            State.set_status(db, row.key, "delivering", "", worker=None, name=result["name"],
                             incomplete=",".join(str(k) for k in summary["missing"]))
        self.crashpoint("delivering")
        self._deliver(row)
        self.stats.reviewed += 1
        self.log.info("series.reviewed", series=row.key, name=result["name"],
                      title=summary["title"], version=summary["version"],
                      patches=summary["patches"],
                      missing=format_ranges(summary["missing"]),
                      base=summary["base"], verdict=summary["verdict"],
                      counts=summary["counts"], replies=summary["replies"], seconds=seconds)

    def _jobdir(self, key: str) -> Path:
        return self.outbox / WORK / key

    def _analyse(self, row: SeriesRow) -> tuple[dict[str, Any] | None, tuple[str, str] | None]:
        jobdir = self._jobdir(row.key)
        shutil.rmtree(jobdir, ignore_errors=True)
        jobdir.mkdir(parents=True)
        raws = [m.raw for m in self.state.members(row.key)
                if m.kind in ("cover", "patch") and m.raw is not None]
        (jobdir / "series.mbox").write_bytes(mboxrd(raws))
        cfg = self.cfg
        job = {"key": row.key, "mbox": str(jobdir / "series.mbox"), "version": row.version,
               "tree": cfg.tree, "baseline": cfg.baseline, "config": cfg.config_path,
               "cpus": cfg.cpus, "failures": cfg.failures, "vendor": cfg.vendor,
               "max_memory_mb": cfg.max_memory_mb, "cpu_seconds": cfg.analysis_timeout,
               "jobs": cfg.jobs or min(os.cpu_count() or 1, 4), "sender": cfg.sender, "target_url": cfg.target_url}
        (jobdir / "job.json").write_text(json.dumps(job, indent=2), encoding="utf-8")
        with open(jobdir / "worker.log", "wb") as errlog:
            proc = subprocess.Popen([sys.executable, "-m", "kvmplan.bot.worker", str(jobdir)],
                                    stdin=subprocess.DEVNULL, stdout=errlog, stderr=errlog,
                                    start_new_session=True, preexec_fn=die_with_parent)
        with self.state.transaction() as db:
            State.set_status(db, row.key, "analyzing", worker=proc.pid)
        self.crashpoint("worker")
        try:
            code = proc.wait(timeout=cfg.analysis_timeout)
        except subprocess.TimeoutExpired:
            self._kill(proc)
            return None, ("timeout", f"analysis took longer than analysis_timeout "
                                     f"{cfg.analysis_timeout:g} s")
        except BaseException:
            self._kill(proc)
            raise
        result_file = jobdir / "result.json"
        if code != 0 or not result_file.is_file():
            return None, ("crash", self._worker_error(jobdir, code))
        try:
            return json.loads(result_file.read_text(encoding="utf-8")), None
        except (OSError, ValueError) as exc:
            return None, ("crash", f"unreadable worker result: {exc}")

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait()

    @staticmethod
    def _worker_error(jobdir: Path, code: int) -> str:
        try:
            lines = [ln for ln in (jobdir / "worker.log").read_text(errors="replace").splitlines()
                     if ln.strip()]
        except OSError:
            lines = []
        how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
        return f"analysis worker {how}" + (f": {lines[-1].strip()}" if lines else "")

    # -- delivery ------------------------------------------------------------

    def _deliver(self, row: SeriesRow) -> None:
        written = 0
        for o in self.state.outputs(row.key):
            if box.deliver(self.outbox, o.path, o.data):
                written += 1
                self.crashpoint("delivered-one")
            if o.kind == "reply":
                self.stats.replies += 1
        self.crashpoint("replied")
        with self.state.transaction() as db:
            State.set_status(db, row.key, "replied")
            State.drop_bulky_outputs(db, row.key)
        shutil.rmtree(self._jobdir(row.key), ignore_errors=True)
        self.log.info("series.delivered", series=row.key, files=written)

    # -- SMTP ----------------------------------------------------------------

    def send(self) -> None:
        cfg = self.cfg.smtp
        if cfg is None:
            return
        envelope = cfg.sender or parseaddr(self.cfg.sender)[1]
        for msgid, key, path, attempts in self.state.pending_sends():
            row = self.state.series(key)
            if row is None or row.status != "replied":
                continue
            data = self.state.reply_text(key, path)
            if data is None:
                continue
            try:
                sent = smtp.send(cfg, envelope, data)
            except (OSError, smtplib.SMTPException) as exc:
                attempts += 1
                status = "failed" if attempts >= self.cfg.max_attempts else "pending"
                with self.state.transaction() as db:
                    State.set_send(db, msgid, status, str(exc)[:200], attempts)
                self.log.error("reply.send-failed", msgid=msgid, series=key, why=str(exc)[:200],
                               attempt=attempts, will_retry=status == "pending")
                continue
            self.crashpoint("sent")
            with self.state.transaction() as db:
                State.set_send(db, msgid, sent.status, ",".join(sent.recipients), attempts + 1)
            if sent.status == "sent":
                self.stats.sent += 1
            self.log.info("reply." + sent.status, msgid=msgid, series=key,
                          recipients=list(sent.recipients), dropped=list(sent.dropped))
