"""Bad-input reporting shared by the corpus adapters."""
from __future__ import annotations

from dataclasses import dataclass, field


class CorpusError(ValueError):
    """A defect in a corpus, naming the corpus, the clip and the file concerned."""

    def __init__(self, corpus: str, clip: str | None, file: str | None, reason: str):
        self.corpus, self.clip, self.file, self.reason = corpus, clip, file, reason
        where = ", ".join(p for p in (f"corpus {corpus!r}", clip and f"clip {clip!r}",
                                      file and f"file {file}") if p)
        super().__init__(f"{where}: {reason}")


@dataclass
class Rejections:
    """Collects bad clips: raise at once (policy 'error') or record a row (policy 'reject')."""

    corpus: str
    policy: str = "error"
    rows: list[dict] = field(default_factory=list)

    def __post_init__(self):
        if self.policy not in ("error", "reject"):
            raise ValueError(f"on_bad_clip must be 'error' or 'reject', got {self.policy!r}")

    def bad(self, clip: str, file: str | None, reason: str, **extra) -> None:
        if self.policy == "error":
            raise CorpusError(self.corpus, clip, file, reason)
        self.rows.append({"dataset": self.corpus, "clip_id": clip, "file": file or "",
                          "reason": reason, **{k: str(v) for k, v in extra.items()}})


class BadClip(Exception):
    """Raised while validating one clip; the adapter turns it into Rejections.bad.

    file: the file or sheet row at fault, or None for "the clip's annotation row".
    """

    def __init__(self, file: str | None, reason: str):
        self.file, self.reason = file, reason
        super().__init__(f"{file}: {reason}" if file else reason)
