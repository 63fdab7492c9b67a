"""What tests/deploy-check.sh checks once `sam build` and the x86_64 build are done.

    python tests/tools/deploy_check.py --template template.yaml --build-dir .aws-sam/build \
        --x86-dir target/deploy/lambda-x86_64 --emulator .../aws-lambda-rie-x86_64

For every function in the template built with BuildMethod rust-cargolambda:
  * .aws-sam/build/<LogicalId>/bootstrap exists and is a 64-bit ELF for AArch64 (e_machine 0xB7),
    static or dynamically linked against no GLIBC_ version newer than Amazon Linux 2023's 2.34;
  * the same function built for x86_64 starts under the Runtime Interface Emulator with the
    environment the template gives it (tables named, parameters at their defaults, dummy
    credentials), answers one event that needs no DynamoDB (an HTTP route without the
    authorizer's claims -> 401; a route without an authorizer, such as GET /dashboard -> 200;
    a stream batch with no records -> no error), and the emulator logs its INIT REPORT.
Prints one line per function and exits 1 if any check failed.
"""

import argparse
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import yaml

AL2023_GLIBC = (2, 34)
EM_AARCH64 = 0xB7
EM_X86_64 = 0x3E
STACK = "retail-deploy-check"


# ---------------------------------------------------------------- the template


class _Tag:
    """A CloudFormation short-form intrinsic (!Ref, !GetAtt, !Sub, ...) as it was written."""

    def __init__(self, tag, value):
        self.tag, self.value = tag, value


def _construct_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return _Tag(suffix, value)


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_multi_constructor("!", _construct_tag)


def load_template(path):
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=_Loader)  # noqa: S506 - SafeLoader plus the CloudFormation tags


def resolve(value, template):
    """A variable's value as the stack would give it, near enough: a resource's Ref is a name
    made up for it, a parameter's Ref its default."""
    ref = None
    if isinstance(value, _Tag) and value.tag == "Ref":
        ref = value.value
    elif isinstance(value, dict) and set(value) == {"Ref"}:
        ref = value["Ref"]
    if ref is not None:
        params = template.get("Parameters") or {}
        if ref in params:
            return str(params[ref].get("Default", ""))
        if ref in (template.get("Resources") or {}):
            return f"{STACK}-{ref}"
        if ref == "AWS::Region":
            return "us-east-1"
        return f"{STACK}-{ref}"
    if isinstance(value, (_Tag, dict, list)):
        return f"{STACK}-unresolved"
    return str(value)


def functions(template):
    """(logical id, binary, environment variables, memory MB, timeout s, events) per function."""
    glob = ((template.get("Globals") or {}).get("Function")) or {}
    glob_env = ((glob.get("Environment") or {}).get("Variables")) or {}
    out = []
    for logical_id, res in (template.get("Resources") or {}).items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        meta = res.get("Metadata") or {}
        if meta.get("BuildMethod") != "rust-cargolambda":
            continue
        props = res.get("Properties") or {}
        binary = (meta.get("BuildProperties") or {}).get("Binary")
        variables = dict(glob_env)
        variables.update(((props.get("Environment") or {}).get("Variables")) or {})
        env = {k: resolve(v, template) for k, v in variables.items()}
        memory = int(props.get("MemorySize", glob.get("MemorySize", 128)))
        timeout = int(props.get("Timeout", glob.get("Timeout", 3)))
        out.append((logical_id, binary, env, memory, timeout, props.get("Events") or {}))
    return out


# ---------------------------------------------------------------- the ELF file


def elf_info(path):
    """(e_machine, interpreter or None, highest GLIBC_ version needed or None) of a 64-bit
    little-endian ELF file; raises ValueError for anything else."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF":
        raise ValueError("not an ELF file")
    if data[4] != 2 or data[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    u16 = lambda o: struct.unpack_from("<H", data, o)[0]  # noqa: E731
    u32 = lambda o: struct.unpack_from("<I", data, o)[0]  # noqa: E731
    u64 = lambda o: struct.unpack_from("<Q", data, o)[0]  # noqa: E731
    machine = u16(18)
    phoff, shoff = u64(32), u64(40)
    phentsize, phnum, shentsize, shnum = u16(54), u16(56), u16(58), u16(60)
    interp = None
    for i in range(phnum):
        ph = phoff + i * phentsize
        if u32(ph) == 3:  # PT_INTERP
            off, size = u64(ph + 8), u64(ph + 32)
            interp = data[off : off + size].rstrip(b"\0").decode()
    sections = []
    for i in range(shnum):
        sh = shoff + i * shentsize
        sections.append((u32(sh + 4), u64(sh + 24), u64(sh + 32), u32(sh + 40), u32(sh + 44)))
    versions = []
    for sh_type, off, _size, link, count in sections:
        if sh_type != 0x6FFFFFFE:  # SHT_GNU_verneed
            continue
        strtab = sections[link][1]

        def name(o, strtab=strtab):
            return data[strtab + o : data.index(b"\0", strtab + o)].decode()

        entry = off
        for _ in range(count):
            aux = entry + u32(entry + 8)
            for _ in range(u16(entry + 2)):
                m = re.fullmatch(r"GLIBC_(\d+)\.(\d+)(?:\.(\d+))?", name(u32(aux + 8)))
                if m:
                    versions.append(tuple(int(g) for g in m.groups() if g is not None))
                if u32(aux + 12) == 0:
                    break
                aux += u32(aux + 12)
            if u32(entry + 12) == 0:
                break
            entry += u32(entry + 12)
    return machine, interp, (max(versions) if versions else None)


# ---------------------------------------------------------------- the emulator


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_event(method, path):
    """An API Gateway HTTP API (payload 2.0) event for a route, without the authorizer's claims:
    a route with no authorizer answers it, any other refuses it (401) before reading a table."""
    raw_path = re.sub(r"\{[^}]+\}", "DEPLOYCHECK", path)
    params = {p: "DEPLOYCHECK" for p in re.findall(r"\{([^}+]+)\+?\}", path)}
    now = time.time()
    event = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": raw_path,
        "rawQueryString": "",
        "headers": {"host": "localhost", "user-agent": "deploy-check", "content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "deploycheck",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "deploy-check"},
            "requestId": "deploy-check",
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if params:
        event["pathParameters"] = params
    if method in ("POST", "PUT", "PATCH"):
        event["body"] = "{}"
    return event


def stream_event():
    """A tumbling-window DynamoDB stream batch with no records, as Lambda sends at a window's end."""
    return {
        "Records": [],
        "window": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:15:00Z"},
        "state": {},
        "shardId": "shardId-00000000000000000000-deploycheck",
        "eventSourceARN": f"arn:aws:dynamodb:us-east-1:123456789012:table/{STACK}-SalesTable/stream/2026-01-01T00:00:00.000",
        "isFinalInvokeForWindow": False,
        "isWindowTerminatedEarly": False,
    }


def pick_event(events):
    """(event, what a good answer is, a label): a route needing no table, or an empty batch."""
    routes = []
    for ev in events.values():
        props = ev.get("Properties") or {}
        if ev.get("Type") == "HttpApi":
            open_route = ((props.get("Auth") or {}).get("Authorizer")) == "NONE"
            routes.append((not open_route, props.get("Method", "GET").upper() != "GET", props["Method"].upper(), props["Path"], open_route))
        elif ev.get("Type") in ("DynamoDB", "Kinesis"):
            return stream_event(), "no error", "empty stream batch"
    if not routes:
        return None, None, None
    # An open GET route first (it must answer 200), else a GET route without claims (401).
    routes.sort()
    _, _, method, path, open_route = routes[0]
    if open_route:
        return http_event(method, path), 200, f"{method} {path}"
    return http_event(method, path), 401, f"{method} {path} (no claims)"


def run_under_emulator(emulator, binary, name, env_vars, memory, timeout, event, expect):
    """Start the emulator with the binary; POST the event; return (ok, init ms, note, output)."""
    port, api_port = free_port(), free_port()
    env = {
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(timeout),
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "deploycheck",
        "AWS_SECRET_ACCESS_KEY": "deploycheck",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "TZ": ":UTC",
    }
    env.update(env_vars)
    proc = subprocess.Popen(
        [emulator, "--runtime-interface-emulator-address", f"127.0.0.1:{port}", "--runtime-api-address", f"127.0.0.1:{api_port}", binary],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    lines = []

    def pump():
        for raw in proc.stdout:
            lines.append(raw.decode(errors="replace").rstrip("\n"))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                # Both ports: the emulator opens its Runtime API in a goroutine that can
                # come after its invocations port.
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                socket.create_connection(("127.0.0.1", api_port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None:
                    return False, None, f"the emulator exited ({proc.returncode})", lines
                if time.monotonic() > deadline:
                    return False, None, "the emulator did not listen in 10 s", lines
                time.sleep(0.02)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations",
            data=json.dumps(event).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout + 15) as resp:
                body = resp.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return False, None, f"the emulator answered HTTP {e.code}: {e.read()[:300]!r}", lines
        except OSError as e:
            return False, None, f"no answer: {e}", lines
        init_ms = None
        deadline = time.monotonic() + 5
        while init_ms is None and time.monotonic() < deadline:
            for line in list(lines):
                m = re.search(r"INIT REPORT.*?durationMs:\s*([0-9.]+)", line)
                if m:
                    init_ms = float(m.group(1))
            if init_ms is None:
                time.sleep(0.05)
        try:
            answer = json.loads(body)
        except ValueError:
            return False, init_ms, f"not JSON: {body[:300]}", lines
        if init_ms is None:
            return False, None, f"no INIT REPORT in the emulator's output; answer {body[:300]}", lines
        if any("Init error" in l or "Runtime.ExitError" in l or "InitError" in l for l in lines):
            return False, init_ms, "the emulator logged an init error", lines
        if isinstance(answer, dict) and "errorType" in answer:
            return False, init_ms, f"the function failed: {body[:300]}", lines
        if expect == "no error":
            return True, init_ms, "answered " + (json.dumps(answer)[:60] if answer is not None else "null"), lines
        status = answer.get("statusCode") if isinstance(answer, dict) else None
        if status != expect:
            return False, init_ms, f"answered {status}, wanted {expect}: {body[:300]}", lines
        return True, init_ms, f"answered {status}", lines
    finally:
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
        proc.wait()
        reader.join(timeout=2)


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--template", required=True)
    ap.add_argument("--list-binaries", action="store_true", help="print the functions' binaries, one a line, and stop")
    ap.add_argument("--build-dir", help="sam build's output, .aws-sam/build")
    ap.add_argument("--x86-dir", help="cargo lambda's x86_64 output: <dir>/<binary>/bootstrap")
    ap.add_argument("--emulator", help="aws-lambda-rie-x86_64")
    args = ap.parse_args()

    template = load_template(args.template)
    funcs = functions(template)
    if not funcs:
        print("no function with BuildMethod rust-cargolambda in the template", file=sys.stderr)
        return 1
    if args.list_binaries:
        print("\n".join(binary for _, binary, *_ in funcs))
        return 0
    if not (args.build_dir and args.x86_dir and args.emulator):
        ap.error("--build-dir, --x86-dir and --emulator are needed")
    failures = []
    rows = []
    for logical_id, binary, env_vars, memory, timeout, events in funcs:
        row = {"fn": logical_id, "bin": binary, "size": "-", "arch": "-", "glibc": "-", "emu": "-"}
        rows.append(row)
        # -- the deployable aarch64 bootstrap
        boot = os.path.join(args.build_dir, logical_id, "bootstrap")
        if not os.path.isfile(boot):
            failures.append(f"{logical_id}: {boot} is missing")
            continue
        row["size"] = f"{os.path.getsize(boot) / 1048576:.1f} MiB"
        try:
            machine, interp, glibc = elf_info(boot)
        except (ValueError, struct.error) as e:
            failures.append(f"{logical_id}: {boot}: {e}")
            continue
        row["arch"] = {EM_AARCH64: "aarch64", EM_X86_64: "x86_64"}.get(machine, hex(machine))
        if machine != EM_AARCH64:
            failures.append(f"{logical_id}: {boot} is for {row['arch']}, not aarch64 (arm64 in the template)")
        if interp is None:
            row["glibc"] = "static"
        elif glibc is None:
            row["glibc"] = "none"
        else:
            row["glibc"] = ".".join(map(str, glibc))
            if glibc[:2] > AL2023_GLIBC:
                failures.append(f"{logical_id}: needs GLIBC_{row['glibc']}, provided.al2023 has 2.34")
        # -- the same code for x86_64, under the emulator
        event, expect, label = pick_event(events)
        if event is None:
            failures.append(f"{logical_id}: no HttpApi or stream event to send")
            continue
        x86 = os.path.join(args.x86_dir, binary, "bootstrap")
        if not os.path.isfile(x86):
            failures.append(f"{logical_id}: the x86_64 build {x86} is missing")
            continue
        machine, _, _ = elf_info(x86)
        if machine != EM_X86_64:
            failures.append(f"{logical_id}: {x86} is not an x86_64 ELF")
            continue
        ok, init_ms, note, lines = run_under_emulator(args.emulator, x86, logical_id, env_vars, memory, timeout, event, expect)
        row["emu"] = f"{'ok' if ok else 'FAILED'}: init {init_ms:.1f} ms, {label} {note}" if init_ms is not None else f"FAILED: {label}: {note}"
        if not ok:
            failures.append(f"{logical_id}: under the emulator: {note}\n    " + "\n    ".join(lines[-30:]))

    w = max(len(r["fn"]) for r in rows)
    print(f"{'function':<{w}}  {'bootstrap':>9}  {'arch':<7}  {'max GLIBC':<9}  started under the emulator (x86_64 build)")
    for r in rows:
        print(f"{r['fn']:<{w}}  {r['size']:>9}  {r['arch']:<7}  {r['glibc']:<9}  {r['emu']}")
    if failures:
        print(f"\n{len(failures)} problem(s):", file=sys.stderr)
        for f in failures:
            print(f"  {f}", file=sys.stderr)
        return 1
    print(f"\nall {len(rows)} functions: aarch64 bootstrap for provided.al2023 (GLIBC <= 2.34), and the x86_64 build starts under the emulator")
    return 0


if __name__ == "__main__":
    sys.exit(main())
