"""The stage contract, in one place: each stage's run(cfg) is `run_stage(<its Stage>, cfg)`.

A stage says what it is (`Stage`): the manifest kind it writes, the entries of its folder it owns,
its identity (the settings that determine its output), its work, and how to read a finished
output's result back from its manifest. run_stage owns what every stage does around the work:

1. refuse:   --out a file, another stage's output, foreign files, or this stage's output made with
             other settings (OtherSettings, which `augment run` redoes) -- unless --overwrite;
2. skip:     an output complete with the same identity: its Result, read from the manifest;
3. continue: the work starts on this stage's interrupted output of the same identity (checkpoints
             of a Ray Train stage, generation's finished parts); `Output.start()`, which the work
             calls once its inputs are checked (bad input leaves the old output untouched), removes
             what the stage owns when it starts over, and always the manifest: incomplete until done;
4. finish:   the dataset card (where the stage writes one), then the manifest, last.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from pyarrow import fs as pafs

from augment.core import card, manifest, storage

ResultT = TypeVar("ResultT", covariant=True)


@dataclass
class Output:
    """The folder a stage writes, as its work sees it."""

    uri: str
    fs: pafs.FileSystem
    path: str
    identity: dict
    owned: tuple[str, ...]
    start_over: bool  # remove what the stage owns before writing (no interrupted output to continue)
    writable: bool = False  # checked already (a probe write: on object stores, requests)

    def check_writable(self) -> None:
        """Refuse an --out this process cannot write, once; a stage that waits for nodes calls it first."""
        if not self.writable:
            storage.check_writable(self.uri)
            self.writable = True

    def start(self) -> None:
        self.check_writable()
        if self.start_over:
            manifest.clear_output(self.fs, self.path, self.owned)
        storage.delete(self.fs, storage.join(self.path, manifest.MANIFEST_NAME))

    def entry(self, relative_path: str, rows: int = 0) -> dict:
        return manifest.file_entry(self.fs, self.path, relative_path, rows)


@dataclass
class Made(Generic[ResultT]):
    """What a stage's work made: its result, the manifest's file entries and other facts, and the
    dataset card to write before the manifest (None: the stage writes none)."""

    result: ResultT
    files: list[dict]
    facts: dict = field(default_factory=dict)
    card: card.Card | None = None


class Stage(Protocol[ResultT]):
    KIND: str  # the manifest's "stage"
    OWNED: tuple[str, ...]  # the entries of its folder it writes (an --overwrite removes them)
    CONTINUES: bool  # an interrupted output of the same identity is continued, not started over

    def identity(self, cfg) -> dict: ...

    def finished(self, cfg, output: Output) -> dict | None:
        """The manifest of an output complete for cfg (skip), else None; refuses what it cannot continue."""
        ...

    def work(self, cfg, output: Output) -> Made[ResultT]: ...

    def from_manifest(self, cfg, done: dict) -> ResultT: ...


def run_stage(stage: Stage[ResultT], cfg) -> ResultT:
    started = time.perf_counter()
    fs, path = storage.resolve(cfg.out)
    output = Output(
        uri=cfg.out,
        fs=fs,
        path=path,
        identity=stage.identity(cfg),
        owned=stage.OWNED,
        start_over=cfg.overwrite or not stage.CONTINUES,
    )
    done = stage.finished(cfg, output)
    if done is not None:
        return stage.from_manifest(cfg, done)
    made = stage.work(cfg, output)
    files = list(made.files)
    if made.card is not None:
        files.append(card.write_card(fs, path, made.card))
    manifest.write_manifest(
        fs,
        path,
        stage=stage.KIND,
        config=output.identity,
        files=files,
        **made.facts,
        elapsed_s=round(time.perf_counter() - started, 3),
    )
    return made.result


def finished_output(cfg, output: Output, kind: str) -> dict | None:
    """`finished` for a stage whose output is either complete or started over (core.manifest)."""
    return manifest.finished_output(
        output.fs,
        output.path,
        uri=cfg.out,
        kind=kind,
        identity=output.identity,
        owned=output.owned,
        overwrite=cfg.overwrite,
    )
