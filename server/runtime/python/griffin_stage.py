"""Stage a Griffin run's files in a pod before its entrypoint starts (kubernetes, kuberay backends).

Griffin passes this script to the pod (as GRIFFIN_STAGE_SCRIPT) and runs it with the image's
Python. It downloads the run's bundle, GET {GRIFFIN_API_URL}/api/v1/runs/{GRIFFIN_RUN_ID}/bundle
with the run token: the model's code when it lives on the Griffin host, griffin_run.py under
.griffin/, and a local dataset under .griffin/dataset/. A GRIFFIN_CODE_URL (an https:// zip) is
fetched and unpacked first. Everything lands in GRIFFIN_STAGE_DIR. Standard library only.
"""

import io
import os
import sys
import time
import urllib.request
import zipfile


def fetch(url, headers, attempts=5):
    for attempt in range(1, attempts + 1):
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as response:
                return response.read()
        except Exception as exc:  # every failure is retried: the service may be restarting
            if attempt == attempts:
                sys.exit("griffin-stage: cannot fetch %s: %s" % (url.split("?")[0], exc))
            time.sleep(min(2 ** attempt, 15))


def unpack(data, target, strip_top=False):
    root = os.path.realpath(target)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
        tops = {n.split("/", 1)[0] for n in names}
        # An archive of one directory (GitHub, S3 exports) is unpacked from inside it, as Ray does.
        prefix = tops.pop() + "/" if strip_top and len(tops) == 1 and all("/" in n for n in names) else ""
        for info in archive.infolist():
            name = info.filename[len(prefix):]
            if info.filename.endswith("/") or not name:
                continue
            path = os.path.realpath(os.path.join(root, name))
            if not path.startswith(root + os.sep):
                sys.exit("griffin-stage: refusing %r, which would land outside %s" % (info.filename, root))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with archive.open(info) as source, open(path, "wb") as sink:
                sink.write(source.read())
            if (info.external_attr >> 16) & 0o111:
                os.chmod(path, 0o755)
    return len(names)


def main(env):
    target = env["GRIFFIN_STAGE_DIR"]
    os.makedirs(target, exist_ok=True)
    if env.get("GRIFFIN_CODE_URL"):
        count = unpack(fetch(env["GRIFFIN_CODE_URL"], {}), target, strip_top=True)
        print("griffin-stage: %d files from %s" % (count, env["GRIFFIN_CODE_URL"].split("?")[0]), flush=True)
    url = "%s/api/v1/runs/%s/bundle" % (env["GRIFFIN_API_URL"].rstrip("/"), env["GRIFFIN_RUN_ID"])
    count = unpack(fetch(url, {"Authorization": "Bearer " + env["GRIFFIN_RUN_TOKEN"]}), target)
    print("griffin-stage: %d files of run %s staged in %s" % (count, env["GRIFFIN_RUN_ID"], target), flush=True)


if __name__ == "__main__":
    main(os.environ)
