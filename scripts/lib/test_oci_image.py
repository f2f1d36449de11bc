"""The node's image (scripts/lib/oci_image.py) is the Dockerfile's image: same entrypoint, user,
ports, labels and files; anything the writer cannot reproduce is refused, never skipped."""

import contextlib
import io
import json
import os
import re
import tarfile
import tempfile
import unittest

import oci_image

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOCKERFILE = os.path.join(REPO, "Dockerfile")
RECIPE = os.path.join(REPO, "e2e", "node", "distroless-cc-debian12.json")


def read_image(path):
    """(config, {path: TarInfo}, {path: bytes}) of the single-manifest OCI tarball at path."""
    with tarfile.open(path) as outer:
        blob = lambda digest: outer.extractfile("blobs/sha256/" + digest.split(":")[1]).read()
        index = json.loads(outer.extractfile("index.json").read())
        manifest = json.loads(blob(index["manifests"][0]["digest"]))
        config = json.loads(blob(manifest["config"]["digest"]))
        infos, data = {}, {}
        for layer in manifest["layers"]:
            with tarfile.open(fileobj=io.BytesIO(blob(layer["digest"]))) as t:
                for m in t.getmembers():
                    infos["/" + m.name] = m
                    if m.isfile():
                        data["/" + m.name] = t.extractfile(m).read()
        return index, config, infos, data


def dockerfile_final_stage_by_regex(text):
    """An independent reading of the final stage (not the writer's parser)."""
    final = re.split(r"(?m)^FROM ", text)[-1]
    user = re.search(r"(?m)^USER (\S+)", final).group(1)
    entrypoint = json.loads(re.search(r"(?m)^ENTRYPOINT (\[.*\])", final).group(1))
    ports = re.search(r"(?m)^EXPOSE (.+)$", final).group(1).split()
    copy = re.search(r"(?m)^COPY --from=\S+ (\S+) (\S+)", final)
    base = final.split()[0]
    return base, user, entrypoint, ports, copy.group(1), copy.group(2)


class DockerfileImage(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.base = os.path.join(self.dir, "base")
        os.makedirs(os.path.join(self.base, "etc"))
        with open(os.path.join(self.base, "etc", "passwd"), "w") as f:
            f.write("nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
        self.binary = os.path.join(self.dir, "zen-watcher")
        with open(self.binary, "wb") as f:
            f.write(b"\x7fELF not really")
        os.chmod(self.binary, 0o755)

    def tearDown(self):
        self.tmp.cleanup()

    def build(self, dockerfile=DOCKERFILE, out="image.tar"):
        out = os.path.join(self.dir, out)
        with contextlib.redirect_stdout(io.StringIO()):
            code = self.run_main(out, dockerfile)
        self.assertEqual(code, 0)
        return out

    def run_main(self, out, dockerfile):
        return oci_image.main([
            "dockerfile", "--dockerfile", dockerfile, "--base-dir", self.base, "--base-config", RECIPE,
            "--stage-file", f"/out/zen-watcher={self.binary}", "--ref", "ghcr.io/kube-zen/zen-watcher:t",
            "--out", out,
        ])

    def test_the_image_has_the_dockerfiles_entrypoint_user_ports_and_files(self):
        with open(DOCKERFILE) as f:
            base, user, entrypoint, ports, src, dest = dockerfile_final_stage_by_regex(f.read())
        with open(RECIPE) as f:
            self.assertEqual(json.load(f)["ref"], base, "the base recipe reproduces the Dockerfile's FROM")
        self.assertEqual(src, "/out/zen-watcher")
        index, config, infos, data = read_image(self.build())
        c = config["config"]
        self.assertEqual(c["User"], user)
        self.assertEqual(user, "65532:65532", "the image runs as the non-root user 65532")
        self.assertEqual(c["Entrypoint"], entrypoint)
        self.assertNotIn("Cmd", c)
        self.assertEqual(sorted(c["ExposedPorts"]), sorted(p + "/tcp" for p in ports))
        self.assertEqual(c["WorkingDir"], "/home/nonroot", "distroless :nonroot's working directory")
        self.assertIn("SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", c["Env"])
        self.assertEqual(c["Labels"]["org.opencontainers.image.licenses"], "Apache-2.0")
        self.assertEqual(index["manifests"][0]["annotations"]["io.containerd.image.name"],
                         "ghcr.io/kube-zen/zen-watcher:t")
        binary = infos[dest]
        self.assertTrue(binary.isfile())
        self.assertEqual((binary.mode, binary.uid, binary.gid), (0o755, 0, 0), "COPY gives root:root, mode kept")
        self.assertEqual(data[dest], b"\x7fELF not really")
        self.assertIn(b"nonroot:x:65532:65532", data["/etc/passwd"])
        self.assertEqual(len(config["rootfs"]["diff_ids"]), 2, "base layer + the COPY layer")

    def test_the_same_inputs_give_the_same_digests(self):
        a, b = self.build(out="a.tar"), self.build(out="b.tar")
        self.assertEqual(read_image(a)[0], read_image(b)[0])

    def write_dockerfile(self, final_stage):
        path = os.path.join(self.dir, "Dockerfile")
        with open(path, "w") as f:
            f.write("FROM rust:1.95-bookworm AS build\nRUN cargo build\n" + final_stage)
        return path

    def test_an_instruction_the_writer_does_not_implement_is_refused(self):
        path = self.write_dockerfile(
            "FROM gcr.io/distroless/cc-debian12:nonroot\nCOPY --from=build /out/zen-watcher /zen-watcher\n"
            "RUN [\"/zen-watcher\", \"--version\"]\n")
        with self.assertRaisesRegex(oci_image.ImageError, r"Dockerfile:5: RUN is not supported"):
            oci_image.apply_final_stage(path, "gcr.io/distroless/cc-debian12:nonroot",
                                        oci_image.ImageConfig(), {"/out/zen-watcher": self.binary})

    def test_a_different_base_image_is_refused(self):
        path = self.write_dockerfile("FROM gcr.io/distroless/static-debian12:nonroot\nUSER 65532:65532\n")
        with self.assertRaisesRegex(oci_image.ImageError, "the base recipe reproduces"):
            oci_image.apply_final_stage(path, "gcr.io/distroless/cc-debian12:nonroot",
                                        oci_image.ImageConfig(), {})

    def test_a_copy_from_an_unknown_stage_path_is_refused(self):
        path = self.write_dockerfile(
            "FROM gcr.io/distroless/cc-debian12:nonroot\nCOPY --from=build /out/other /other\n")
        with self.assertRaisesRegex(oci_image.ImageError, "no --stage-file given for /out/other"):
            oci_image.apply_final_stage(path, "gcr.io/distroless/cc-debian12:nonroot",
                                        oci_image.ImageConfig(), {"/out/zen-watcher": self.binary})

    def test_entrypoint_resets_the_base_cmd_and_env_overrides(self):
        path = self.write_dockerfile(
            "FROM gcr.io/distroless/cc-debian12:nonroot\nENV PATH=/bin A=\"b c\"\nENTRYPOINT [\"/x\"]\n")
        base = oci_image.ImageConfig(cmd=["/bin/sh"], env=["PATH=/usr/bin"])
        config, _, _ = oci_image.apply_final_stage(path, "gcr.io/distroless/cc-debian12:nonroot", base, {})
        self.assertEqual(config.entrypoint, ["/x"])
        self.assertIsNone(config.cmd)
        self.assertEqual(config.env, ["PATH=/bin", "A=b c"])
        self.assertEqual(base.env, ["PATH=/usr/bin"], "the base config is not modified")


if __name__ == "__main__":
    unittest.main()
