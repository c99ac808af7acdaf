"""Voicemail recordings: stored as files the interaction refers to.

A message is written to ``voicemail_folder/YYYY-MM-DD/<interaction>.<format>``
(written to a temporary name, then renamed, so a crash never leaves half a
recording under the real name). The callback interaction carries the path; the
agent desktop plays it from there. Messages larger than ``max_bytes`` are
refused: a stuck line must not fill the disk.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

from caruso.errors import CommunicationError

__all__ = ["MAX_RECORDING_BYTES", "VoicemailBox"]

MAX_RECORDING_BYTES = 20 * 1024 * 1024
"""About 20 minutes of 8 kHz 16-bit audio."""

_FORMAT = re.compile(r"[a-z0-9]{1,8}")


class VoicemailBox:
    """A folder of recordings."""

    def __init__(self, folder: Path, *, max_bytes: int = MAX_RECORDING_BYTES):
        self.folder = folder
        self.max_bytes = max_bytes

    def store(self, interaction_id: str, audio: bytes, *, format: str, when: datetime) -> Path:
        """Write one message; the path (absolute).

        Raises:
            CommunicationError: not bytes, empty, too large, or an odd format name.
        """
        if not isinstance(audio, (bytes, bytearray)) or not audio:
            raise CommunicationError(f"voicemail for {interaction_id}: the recording is empty or not bytes")
        if len(audio) > self.max_bytes:
            raise CommunicationError(
                f"voicemail for {interaction_id}: {len(audio)} bytes is more than the limit of {self.max_bytes}")
        if not _FORMAT.fullmatch(format):
            raise CommunicationError(f"voicemail for {interaction_id}: {format!r} is not a file format name (wav, mp3, ...)")
        day = self.folder / when.strftime("%Y-%m-%d")
        day.mkdir(parents=True, exist_ok=True)
        path = day / f"{interaction_id}.{format}"
        partial = path.with_suffix(path.suffix + ".part")
        with open(partial, "wb") as out:
            out.write(audio)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
        return path
