"""What a data file that is not UTF-8 text is, said in one error: the first byte that does not
decode, or what the file is when its first bytes say (a compressed file named `.txt`, UTF-16
from a Windows tool), with the command that converts it. Looked for only after a read failed."""

from __future__ import annotations

from pathlib import Path

from xlm.errors import UserError

# What a file that is not text starts with, and the command that makes it text.
_NOT_TEXT = (
    (b"\x1f\x8b", "gzip-compressed", "gunzip -k FILE"), (b"\x28\xb5\x2f\xfd", "zstd-compressed", "zstd -d FILE"),
    (b"BZh", "bzip2-compressed", "bunzip2 -k FILE"), (b"\xfd7zXZ\x00", "xz-compressed", "unxz -k FILE"),
    (b"PK\x03\x04", "a zip archive", "unzip FILE"),
    (b"\xff\xfe\x00\x00", "UTF-32 text (it starts with a byte order mark)", "iconv -f utf-32 -t utf-8 FILE"),
    (b"\x00\x00\xfe\xff", "UTF-32 text (it starts with a byte order mark)", "iconv -f utf-32 -t utf-8 FILE"),
    (b"\xff\xfe", "UTF-16 text (it starts with a byte order mark)", "iconv -f utf-16 -t utf-8 FILE"),
    (b"\xfe\xff", "UTF-16 text (it starts with a byte order mark)", "iconv -f utf-16 -t utf-8 FILE"),
)


def not_utf8(files: list[Path], label: str = "") -> UserError:
    """The error for a file of ``files`` that is not UTF-8: the first such byte, or what the file
    is when its first bytes say (a compressed file named .txt, UTF-16 from a Windows tool)."""
    where, path = _first_non_utf8(files)
    return (path is not None and not_text(path, label)) or UserError(
        f"{where}{label} is not UTF-8 text", "convert it (iconv -f <encoding> -t utf-8) or leave it out of datamodule.files")


def not_text(path: Path, label: str = "") -> UserError | None:
    """The error for a file whose first bytes say it is compressed or UTF-16/32, else None.
    `datasets` decompresses by those bytes, whatever the name: a .txt that is gzip would be
    read there and refused by xlm's own reader (streaming, tokenizer training)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(6)
    except OSError:
        return None  # the reader says what is wrong with it
    for magic, what, command in _NOT_TEXT:
        if head.startswith(magic):
            return UserError(f"{path}{label} is {what}, not UTF-8 text",
                             f"convert it ({command.replace('FILE', str(path))}) or leave it out of datamodule.files")
    return None


def _first_non_utf8(files: list[Path]) -> tuple[str, Path | None]:
    """(``path, byte N`` of the first byte that does not decode as UTF-8, its file), looked for only after a failure."""
    import codecs

    for path in files:
        decoder = codecs.getincrementaldecoder("utf-8")()
        offset = 0
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    return f"{path}, byte {offset + exc.start}", path
                offset += len(chunk)
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                return f"{path}, at its end", path
    return "a file of datamodule.files", None
