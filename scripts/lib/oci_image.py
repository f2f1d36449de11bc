#!/usr/bin/env python3
"""Write OCI image tarballs without a container daemon or a registry (stdlib only).

Two ways in:

  oci_image.py simple --ref REF --file SRC=DEST ... --entrypoint PATH [--user U] --out X.tar
      one layer holding the given files (the node's pause image).

  oci_image.py dockerfile --dockerfile Dockerfile --base-dir DIR --base-config JSON
                          --stage-file /out/zen-watcher=PATH --ref REF --out X.tar
      the final stage of a Dockerfile: its FROM must be the base that --base-config describes
      (built into DIR from Debian's packages by scripts/node-image.sh), and every other
      instruction is applied as Docker applies it (COPY --from, USER, ENTRYPOINT, CMD, EXPOSE,
      LABEL, ENV, WORKDIR). An instruction this writer does not implement is an error, so the
      Dockerfile and this image cannot drift apart silently.

The tarball is an `oci-layout` (index.json + blobs/sha256/...) with the
`io.containerd.image.name` annotation that `ctr images import` names the image by. Layers are
uncompressed, entries sorted, mtimes fixed: the same inputs give the same digests.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shlex
import stat
import sys
import tarfile
from dataclasses import dataclass, field

EPOCH = 0  # every entry's mtime: reproducible digests


class ImageError(Exception):
    """A recipe the writer cannot honour, named precisely."""


@dataclass
class Entry:
    """One file, directory or symlink of a layer."""

    path: str  # absolute path inside the image
    kind: str  # "file" | "dir" | "symlink"
    mode: int
    uid: int = 0
    gid: int = 0
    data: bytes = b""
    target: str = ""


@dataclass
class ImageConfig:
    """The runtime part of an OCI image config (what `docker inspect` calls Config)."""

    user: str = ""
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: list[str] = field(default_factory=list)
    working_dir: str = ""
    exposed_ports: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        out: dict = {}
        if self.user:
            out["User"] = self.user
        if self.entrypoint is not None:
            out["Entrypoint"] = self.entrypoint
        if self.cmd is not None:
            out["Cmd"] = self.cmd
        if self.env:
            out["Env"] = self.env
        if self.working_dir:
            out["WorkingDir"] = self.working_dir
        if self.exposed_ports:
            out["ExposedPorts"] = {p: {} for p in self.exposed_ports}
        if self.labels:
            out["Labels"] = dict(self.labels)
        return out

    def set_env(self, key: str, value: str) -> None:
        self.env = [e for e in self.env if e.split("=", 1)[0] != key] + [f"{key}={value}"]


# --- layers -------------------------------------------------------------------------------


def entries_from_dir(root: str) -> list[Entry]:
    """Every file, directory and symlink below root, with owner and mode as on disk."""
    out: list[Entry] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames) + sorted(filenames):
            full = os.path.join(dirpath, name)
            rel = "/" + os.path.relpath(full, root)
            st = os.lstat(full)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                out.append(Entry(rel, "symlink", 0o777, st.st_uid, st.st_gid, target=os.readlink(full)))
            elif stat.S_ISDIR(st.st_mode):
                out.append(Entry(rel, "dir", mode, st.st_uid, st.st_gid))
            elif stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    out.append(Entry(rel, "file", mode, st.st_uid, st.st_gid, data=f.read()))
            else:
                raise ImageError(f"{full}: only files, directories and symlinks can go into a layer")
    return out


def parent_dirs(entries: list[Entry]) -> list[Entry]:
    """Directories a layer needs so that every entry has a parent (root-owned, 0755)."""
    have = {e.path for e in entries}
    need: set[str] = set()
    for e in entries:
        parent = os.path.dirname(e.path)
        while parent not in ("/", "") and parent not in have:
            need.add(parent)
            parent = os.path.dirname(parent)
    return [Entry(p, "dir", 0o755) for p in sorted(need)]


def layer_tar(entries: list[Entry]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in sorted(parent_dirs(entries) + entries, key=lambda e: e.path):
            info = tarfile.TarInfo(e.path.lstrip("/"))
            info.mode, info.uid, info.gid, info.mtime = e.mode, e.uid, e.gid, EPOCH
            info.uname = info.gname = ""
            if e.kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif e.kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, e.target
                tar.addfile(info)
            else:
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
    return buf.getvalue()


# --- the OCI layout -----------------------------------------------------------------------


def write_layout(out: str, ref: str, layers: list[bytes], config: ImageConfig, history: list[str]) -> str:
    """Write the oci-layout tarball; returns the manifest digest."""
    blobs: dict[str, bytes] = {}

    def add(data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return digest

    layer_digests = [add(layer) for layer in layers]
    image_config = {
        "architecture": "amd64",
        "os": "linux",
        "config": config.to_json(),
        "rootfs": {"type": "layers", "diff_ids": layer_digests},
        "history": [{"created_by": h} for h in history],
    }
    config_bytes = json.dumps(image_config, sort_keys=True, separators=(",", ":")).encode()
    config_digest = add(config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": len(config_bytes),
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": len(blobs[d])}
            for d in layer_digests
        ],
    }
    manifest_bytes = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    manifest_digest = add(manifest_bytes)
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": len(manifest_bytes),
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {
                    "io.containerd.image.name": ref,
                    "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[-1],
                },
            }
        ],
    }
    files = {
        "oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
        "index.json": json.dumps(index, sort_keys=True).encode(),
    }
    for digest, data in blobs.items():
        files["blobs/sha256/" + digest.split(":", 1)[1]] = data
    tmp = out + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, EPOCH
            tar.addfile(info)
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(files[name]), 0o644, EPOCH
            tar.addfile(info, io.BytesIO(files[name]))
    os.replace(tmp, out)
    return manifest_digest


# --- the Dockerfile's final stage ---------------------------------------------------------

SUPPORTED = {"FROM", "COPY", "USER", "ENTRYPOINT", "CMD", "EXPOSE", "LABEL", "ENV", "WORKDIR"}
IGNORED = {"ARG"}  # ARG changes no layer and no config


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Instructions with their line numbers: comments dropped, backslash continuations joined."""
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        out.append((start, pending + line))
        pending = ""
    if pending:
        out.append((start, pending))
    return out


def final_stage(text: str) -> tuple[str, list[tuple[int, str, str]]]:
    """The final stage's base image and its instructions (line, keyword, arguments)."""
    base, stage = "", []
    for number, line in logical_lines(text):
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = args.split()
            base, stage = words[0], []
            continue
        stage.append((number, keyword, args.strip()))
    if not base:
        raise ImageError("the Dockerfile has no FROM")
    return base, stage


def json_or_shell(args: str) -> list[str]:
    """ENTRYPOINT/CMD: exec form (a JSON array) as is; shell form as Docker runs it."""
    if args.startswith("["):
        value = json.loads(args)
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise ImageError(f"not a JSON array of strings: {args}")
        return value
    return ["/bin/sh", "-c", args]


def key_values(args: str) -> list[tuple[str, str]]:
    """LABEL / ENV arguments: key=value pairs (shell-quoted), or the legacy `KEY value` form."""
    words = shlex.split(args)
    if words and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]))]
    pairs = []
    for w in words:
        key, sep, value = w.partition("=")
        if not sep:
            raise ImageError(f"expected key=value, found {w!r}")
        pairs.append((key, value))
    return pairs


def apply_final_stage(
    dockerfile: str, base_ref: str, base: ImageConfig, stage_files: dict[str, str]
) -> tuple[ImageConfig, list[Entry], list[str]]:
    """The config and the added entries of the Dockerfile's final stage over `base`."""
    with open(dockerfile, encoding="utf-8") as f:
        from_ref, instructions = final_stage(f.read())
    if from_ref != base_ref:
        raise ImageError(f"{dockerfile}: the final stage is FROM {from_ref}, but the base recipe reproduces {base_ref}")
    config = ImageConfig(**{k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v)
                            for k, v in base.__dict__.items()})
    entries: list[Entry] = []
    history: list[str] = []
    for number, keyword, args in instructions:
        where = f"{dockerfile}:{number}"
        if keyword in IGNORED:
            continue
        if keyword not in SUPPORTED:
            raise ImageError(f"{where}: {keyword} is not supported by scripts/lib/oci_image.py; "
                             "implement it there so the node's image stays the Dockerfile's image")
        history.append(f"{keyword} {args}")
        if keyword == "COPY":
            words = args.split()
            flags = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            chown = ""
            for flag in flags:
                if flag.startswith("--from="):
                    continue
                if flag.startswith("--chown="):
                    chown = flag.split("=", 1)[1]
                    continue
                if flag.startswith("--chmod="):
                    raise ImageError(f"{where}: COPY --chmod is not supported")
                raise ImageError(f"{where}: COPY flag {flag} is not supported")
            if not any(f.startswith("--from=") for f in flags):
                raise ImageError(f"{where}: only COPY --from=<build stage> is supported")
            if len(paths) != 2 or paths[1].endswith("/"):
                raise ImageError(f"{where}: only COPY of one file to a file path is supported")
            src, dest = paths
            if src not in stage_files:
                raise ImageError(f"{where}: no --stage-file given for {src}")
            uid = gid = 0
            if chown:
                u, _, g = chown.partition(":")
                uid, gid = int(u), int(g or u)
            with open(stage_files[src], "rb") as f:
                data = f.read()
            mode = stat.S_IMODE(os.stat(stage_files[src]).st_mode)
            entries.append(Entry(dest, "file", mode, uid, gid, data=data))
        elif keyword == "USER":
            config.user = args
        elif keyword == "ENTRYPOINT":
            config.entrypoint = json_or_shell(args)
            config.cmd = None  # Docker resets CMD inherited from the base when ENTRYPOINT is set
        elif keyword == "CMD":
            config.cmd = json_or_shell(args)
        elif keyword == "EXPOSE":
            for port in args.split():
                config.exposed_ports.append(port if "/" in port else port + "/tcp")
        elif keyword == "LABEL":
            for key, value in key_values(args):
                config.labels[key] = value
        elif keyword == "ENV":
            for key, value in key_values(args):
                config.set_env(key, value)
        elif keyword == "WORKDIR":
            config.working_dir = args
    return config, entries, history


def load_base_config(path: str) -> tuple[str, ImageConfig]:
    with open(path, encoding="utf-8") as f:
        recipe = json.load(f)
    c = recipe["config"]
    return recipe["ref"], ImageConfig(
        user=c.get("User", ""),
        entrypoint=c.get("Entrypoint"),
        cmd=c.get("Cmd"),
        env=list(c.get("Env", [])),
        working_dir=c.get("WorkingDir", ""),
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    simple = sub.add_parser("simple")
    simple.add_argument("--ref", required=True)
    simple.add_argument("--file", action="append", default=[], help="SRC=DEST")
    simple.add_argument("--entrypoint", required=True)
    simple.add_argument("--user", default="")
    simple.add_argument("--out", required=True)
    docker = sub.add_parser("dockerfile")
    docker.add_argument("--dockerfile", required=True)
    docker.add_argument("--base-dir", required=True)
    docker.add_argument("--base-config", required=True)
    docker.add_argument("--stage-file", action="append", default=[], help="STAGE_PATH=HOST_PATH")
    docker.add_argument("--ref", required=True)
    docker.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        if args.mode == "simple":
            entries = []
            for spec in args.file:
                src, _, dest = spec.partition("=")
                with open(src, "rb") as f:
                    entries.append(Entry(dest, "file", 0o755, data=f.read()))
            config = ImageConfig(user=args.user, entrypoint=[args.entrypoint])
            digest = write_layout(args.out, args.ref, [layer_tar(entries)], config, ["files"])
        else:
            base_ref, base = load_base_config(args.base_config)
            stage_files = dict(s.split("=", 1) for s in args.stage_file)
            config, entries, history = apply_final_stage(args.dockerfile, base_ref, base, stage_files)
            layers = [layer_tar(entries_from_dir(args.base_dir)), layer_tar(entries)]
            digest = write_layout(args.out, args.ref, layers, config, [f"base {base_ref}"] + history)
    except (ImageError, OSError, ValueError, KeyError) as e:
        print(f"oci_image: error: {e}", file=sys.stderr)
        return 1
    print(digest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
