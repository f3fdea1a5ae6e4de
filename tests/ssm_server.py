#!/usr/bin/env python3
"""An SSM Run Command test server: the AWS JSON 1.1 protocol (X-Amz-Target: AmazonSSM.*),
spoken to the real aws-sdk-ssm client, with simulated managed instances that run the
command's script with bash, as the SSM agent does (the script's exit code is the status).

Python standard library only. Started by the tests (tests/support/mod.rs) and by
scripts/bench-ssm:

    ssm_server.py --config CONFIG.json --workdir DIR [--port-range 19000-19999]

It prints `LISTENING <port>` once it accepts connections. The config (JSON):

    {
      "instances": {                      # simulated managed instances, by id
        "i-0123456789abcdef0": {
          "behavior": "run",              # run | undeliverable | delivery_timeout |
                                          # invalid_platform | access_denied | cancelled |
                                          # terminated | stuck (never picked up)
          "env": {"K": "V"},              # extra environment of its scripts
          "ping": "Online", "platform": "Linux", "tags": {"Role": "web"}
        }
      },
      "path": "/dir/with/docker/shim",    # put before PATH for every script
      "invisible_polls": 2,               # ListCommands/ListCommandInvocations/Get... see a new
                                          # command as missing this many times (eventual
                                          # consistency: [] or InvocationDoesNotExist)
      "invisible_gets": 2,                # ... and GetCommandInvocation this many more times
      "throttle": {"ListCommands": 3},    # answer this many calls of an op with ThrottlingException
      "delivery_delay": 0.05              # seconds before a simulated agent picks a command up
    }

Simulated time: a delivery failure (Undeliverable, Delivery Timed Out, ...) is reported after
`delivery_delay`, not after the real minutes; executionTimeout is honored in real seconds.

Control endpoints (plain GET, no signing): /_control/requests (every request: op, body,
whether its shape was valid), /_control/stats (calls per op, throttled calls, per command the
send time, first start and last end, in seconds).
"""

import argparse
import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STDOUT_LIMIT = 24000
STDERR_LIMIT = 8000
PLUGIN_OUTPUT_LIMIT = 2500
PLUGIN_TRUNCATED = "\n----- Result truncated -----"
TERMINAL = {"Success", "Failed", "TimedOut", "Cancelled"}


class ShapeError(Exception):
    pass


def need(body, key, kind):
    if key not in body:
        raise ShapeError(f"missing required member {key}")
    if not isinstance(body[key], kind):
        raise ShapeError(f"{key} must be {kind.__name__}, got {type(body[key]).__name__}")
    return body[key]


def optional(body, key, kind):
    if key in body and not isinstance(body[key], kind):
        raise ShapeError(f"{key} must be {kind.__name__}, got {type(body[key]).__name__}")
    return body.get(key)


def check_rate(name, value):
    if value is not None and not re.fullmatch(r"([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%|0%?)", value):
        raise ShapeError(f"{name} {value!r} is not a number or percentage")
    if value is not None and len(value) > 7:
        raise ShapeError(f"{name} longer than 7 characters")


class Invocation:
    def __init__(self, command, instance_id):
        self.command = command
        self.instance_id = instance_id
        self.status = "Pending"
        self.details = "Pending"
        self.response_code = -1
        self.stdout = ""
        self.stderr = ""
        self.started = None
        self.ended = None
        self.process = None

    def finish(self, status, details, code=-1):
        if self.status in TERMINAL:
            return
        self.status, self.details, self.response_code = status, details, code
        self.ended = time.time()


class State:
    def __init__(self, config, workdir):
        self.config = config
        self.instances = config.get("instances", {})
        self.lock = threading.Lock()
        self.commands = {}
        self.order = []
        self.requests = []
        self.calls = {}
        self.throttled = {}
        self.throttle_left = dict(config.get("throttle", {}))
        # Parameter Store (the fleet lock): name -> value.
        self.parameters = dict(config.get("parameters", {}))
        # The scripts' files (_script.sh per invocation); the caller owns and removes it.
        self.workdir = workdir

    # --- simulated agents -------------------------------------------------------------

    def deliver(self, inv, timeout_s):
        behavior = self.instances.get(inv.instance_id, {}).get("behavior", "run")
        time.sleep(float(self.config.get("delivery_delay", 0.05)))
        failures = {
            "undeliverable": ("Failed", "Undeliverable"),
            "delivery_timeout": ("TimedOut", "Delivery Timed Out"),
            "invalid_platform": ("Failed", "Invalid Platform"),
            "access_denied": ("Failed", "Access Denied"),
            # Not delivery failures, but statuses an invocation can end in without running
            # here: cancelled from the console, or stopped by the command's own MaxErrors.
            "cancelled": ("Cancelled", "Cancelled"),
            "terminated": ("Failed", "Terminated"),
        }
        with self.lock:
            if inv.status in TERMINAL:
                return
            if behavior in failures:
                inv.finish(*failures[behavior])
                return
            if behavior == "stuck":
                return
            inv.status, inv.details, inv.started = "InProgress", "In Progress", time.time()
        self.execute(inv, timeout_s)

    def execute(self, inv, timeout_s):
        spec = self.instances.get(inv.instance_id, {})
        cmd = inv.command
        script_dir = os.path.join(self.workdir, cmd["CommandId"], inv.instance_id)
        os.makedirs(script_dir, exist_ok=True)
        script = os.path.join(script_dir, "_script.sh")
        with open(script, "w") as f:
            f.write("\n".join(cmd["Parameters"]["commands"]) + "\n")
        env = dict(os.environ)
        if self.config.get("path"):
            env["PATH"] = self.config["path"] + os.pathsep + env.get("PATH", "")
        env["AWS_SSM_INSTANCE_ID"] = inv.instance_id
        env["AWS_SSM_REGION_NAME"] = "us-east-1"
        env.update(spec.get("env", {}))
        proc = subprocess.Popen(
            ["bash", script], cwd=script_dir, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
        with self.lock:
            inv.process = proc
        try:
            out, err = proc.communicate(timeout=timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            timed_out = True
        with self.lock:
            # The agent keeps only the first 24,000 / 8,000 characters.
            inv.stdout = out.decode("utf-8", "replace")[:STDOUT_LIMIT]
            inv.stderr = err.decode("utf-8", "replace")[:STDERR_LIMIT]
            if timed_out:
                inv.finish("TimedOut", "Execution Timed Out", -1)
            elif proc.returncode == 0:
                inv.finish("Success", "Success", 0)
            elif proc.returncode < 0 and inv.status == "Cancelling":
                inv.finish("Cancelled", "Cancelled", -1)
            else:
                inv.finish("Failed", "Failed", proc.returncode)

    # --- helpers -----------------------------------------------------------------------

    def command(self, command_id):
        cmd = self.commands.get(command_id)
        if cmd is None:
            return None
        # Eventual consistency: a new command is invisible to the first few reads.
        if cmd["reads_invisible"] > 0:
            cmd["reads_invisible"] -= 1
            return None
        return cmd

    def command_view(self, cmd):
        invs = cmd["invocations"].values()
        completed = sum(1 for i in invs if i.status in TERMINAL)
        errors = sum(1 for i in invs if i.details in ("Failed", "Execution Timed Out"))
        delivery = sum(1 for i in invs if i.details == "Delivery Timed Out")
        if any(i.status == "Cancelling" for i in invs):
            status = "Cancelling"
        elif completed < len(cmd["invocations"]):
            status = "InProgress"
        elif any(i.status == "Cancelled" for i in invs):
            status = "Cancelled"
        elif errors:
            status = "Failed"
        elif delivery:
            status = "TimedOut"
        else:
            # Undeliverable, Invalid Platform and Access Denied do not count: "Success".
            status = "Success"
        return {
            "CommandId": cmd["CommandId"],
            "DocumentName": cmd["DocumentName"],
            "InstanceIds": cmd["InstanceIds"],
            "Parameters": cmd["Parameters"],
            "Comment": cmd.get("Comment", ""),
            "Status": status,
            "StatusDetails": status,
            "RequestedDateTime": cmd["sent"],
            "TargetCount": len(cmd["invocations"]),
            "CompletedCount": completed,
            "ErrorCount": errors,
            "DeliveryTimedOutCount": delivery,
            "MaxConcurrency": cmd.get("MaxConcurrency", "50"),
            "MaxErrors": cmd.get("MaxErrors", "0"),
            "TimeoutSeconds": cmd.get("TimeoutSeconds", 3600),
        }

    def stdout_url(self, cmd, inv, stream="stdout"):
        bucket = cmd.get("OutputS3BucketName")
        if not bucket:
            return ""
        prefix = cmd.get("OutputS3KeyPrefix", "")
        return (f"https://s3.amazonaws.com/{bucket}/{prefix}/{cmd['CommandId']}/"
                f"{inv.instance_id}/awsrunShellScript/0.awsrunShellScript/{stream}")

    # --- operations --------------------------------------------------------------------

    def op_SendCommand(self, body):
        doc = need(body, "DocumentName", str)
        ids = optional(body, "InstanceIds", list)
        targets = optional(body, "Targets", list)
        if not ids and not targets:
            raise ShapeError("InstanceIds or Targets is required")
        if ids and len(ids) > 50:
            raise ShapeError("InstanceIds has more than 50 members")
        if ids and not all(isinstance(i, str) and re.fullmatch(r"(m?i)-[0-9a-f]{8,17}", i) for i in ids):
            raise ShapeError("InstanceIds members must be instance ids")
        params = need(body, "Parameters", dict)
        commands = params.get("commands")
        if not isinstance(commands, list) or not all(isinstance(c, str) for c in commands):
            raise ShapeError("Parameters.commands must be a list of strings")
        for key, value in params.items():
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ShapeError(f"Parameters.{key} must be a list of strings")
        exec_timeout = params.get("executionTimeout", ["3600"])
        if len(exec_timeout) != 1 or not exec_timeout[0].isdigit() or not 1 <= int(exec_timeout[0]) <= 172800:
            raise ShapeError("executionTimeout must be one number of seconds in 1..172800")
        timeout = optional(body, "TimeoutSeconds", int)
        if timeout is not None and not 30 <= timeout <= 2592000:
            raise ShapeError("TimeoutSeconds out of 30..2592000")
        comment = optional(body, "Comment", str)
        if comment is not None and len(comment) > 100:
            raise ShapeError("Comment longer than 100 characters")
        check_rate("MaxConcurrency", optional(body, "MaxConcurrency", str))
        check_rate("MaxErrors", optional(body, "MaxErrors", str))
        optional(body, "OutputS3BucketName", str)
        cw = optional(body, "CloudWatchOutputConfig", dict)
        if cw is not None and not isinstance(cw.get("CloudWatchOutputEnabled"), bool):
            raise ShapeError("CloudWatchOutputConfig.CloudWatchOutputEnabled must be a boolean")
        if doc != "AWS-RunShellScript":
            raise ShapeError(f"this server only runs AWS-RunShellScript, not {doc}")
        unknown = [i for i in ids or [] if i not in self.instances]
        if unknown:
            return 400, {"__type": "InvalidInstanceId", "message": f"Instances {unknown} not in a valid state"}
        command_id = str(uuid.uuid4())
        cmd = dict(body)
        cmd.update({
            "CommandId": command_id, "sent": time.time(),
            "reads_invisible": int(self.config.get("invisible_polls", 0)),
            "gets_invisible": int(self.config.get("invisible_gets", 0)),
        })
        cmd["invocations"] = {i: Invocation(cmd, i) for i in ids}
        self.commands[command_id] = cmd
        self.order.append(command_id)
        for inv in cmd["invocations"].values():
            threading.Thread(target=self.deliver, args=(inv, int(exec_timeout[0])), daemon=True).start()
        view = self.command_view(cmd)
        view["Status"] = "Pending"
        return 200, {"Command": view}

    def op_ListCommands(self, body):
        command_id = optional(body, "CommandId", str)
        if command_id is None:
            raise ShapeError("this server lists commands by CommandId only")
        cmd = self.command(command_id)
        return 200, {"Commands": [self.command_view(cmd)] if cmd else []}

    def op_ListCommandInvocations(self, body):
        command_id = need(body, "CommandId", str)
        details = optional(body, "Details", bool) or False
        max_results = optional(body, "MaxResults", int) or 50
        if not 1 <= max_results <= 50:
            raise ShapeError("MaxResults out of 1..50")
        start = int(optional(body, "NextToken", str) or 0)
        cmd = self.command(command_id)
        if cmd is None:
            return 200, {"CommandInvocations": []}
        invs = list(cmd["invocations"].values())
        page = invs[start:start + max_results]
        out = []
        for inv in page:
            item = {
                "CommandId": command_id, "InstanceId": inv.instance_id,
                "DocumentName": cmd["DocumentName"], "Status": inv.status,
                "StatusDetails": inv.details, "RequestedDateTime": cmd["sent"],
                "StandardOutputUrl": self.stdout_url(cmd, inv),
            }
            if details:
                output = inv.stdout
                if inv.stderr:
                    output += "\n----------ERROR-------\n" + inv.stderr
                if len(output) > PLUGIN_OUTPUT_LIMIT:
                    output = output[:PLUGIN_OUTPUT_LIMIT - len(PLUGIN_TRUNCATED)] + PLUGIN_TRUNCATED
                item["CommandPlugins"] = [{
                    "Name": "aws:runShellScript", "Status": inv.status,
                    "StatusDetails": inv.details, "ResponseCode": inv.response_code,
                    "Output": output,
                }]
            out.append(item)
        result = {"CommandInvocations": out}
        if start + max_results < len(invs):
            result["NextToken"] = str(start + max_results)
        return 200, result

    def op_GetCommandInvocation(self, body):
        command_id = need(body, "CommandId", str)
        instance_id = need(body, "InstanceId", str)
        cmd = self.command(command_id)
        inv = cmd and cmd["invocations"].get(instance_id)
        if cmd and cmd["gets_invisible"] > 0:
            cmd["gets_invisible"] -= 1
            inv = None
        if not inv:
            return 400, {"__type": "InvocationDoesNotExist", "message": "invocation does not exist"}
        done = inv.status in TERMINAL
        return 200, {
            "CommandId": command_id, "InstanceId": instance_id,
            "DocumentName": cmd["DocumentName"], "PluginName": "aws:runShellScript",
            "Status": inv.status, "StatusDetails": inv.details,
            "ResponseCode": inv.response_code,
            # Empty until the plugin finishes, as with the real service.
            "StandardOutputContent": inv.stdout if done else "",
            "StandardErrorContent": inv.stderr if done else "",
            "StandardOutputUrl": self.stdout_url(cmd, inv),
            "StandardErrorUrl": self.stdout_url(cmd, inv, "stderr"),
        }

    def op_CancelCommand(self, body):
        command_id = need(body, "CommandId", str)
        ids = optional(body, "InstanceIds", list)
        if ids is not None and len(ids) > 50:
            raise ShapeError("InstanceIds has more than 50 members")
        cmd = self.commands.get(command_id)
        if cmd is None:
            return 400, {"__type": "InvalidCommandId", "message": command_id}
        for inv in cmd["invocations"].values():
            if ids and inv.instance_id not in ids:
                continue
            if inv.process is not None and inv.status not in TERMINAL:
                inv.status, inv.details = "Cancelling", "Cancelling"
                try:
                    os.killpg(inv.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            else:
                inv.finish("Cancelled", "Cancelled")
        return 200, {}

    # --- Parameter Store, as far as the fleet lock uses it ------------------------------

    def op_PutParameter(self, body):
        name, value = need(body, "Name", str), need(body, "Value", str)
        if not name.startswith("/") or len(name) > 1011:
            raise ShapeError("Name must be a path of at most 1011 characters")
        if name in self.parameters and not optional(body, "Overwrite", bool):
            return 400, {"__type": "ParameterAlreadyExists", "message": name}
        self.parameters[name] = value
        return 200, {"Version": 1, "Tier": "Standard"}

    def op_GetParameter(self, body):
        name = need(body, "Name", str)
        if name not in self.parameters:
            return 400, {"__type": "ParameterNotFound", "message": name}
        return 200, {"Parameter": {"Name": name, "Type": "String", "Value": self.parameters[name], "Version": 1}}

    def op_DeleteParameter(self, body):
        name = need(body, "Name", str)
        if self.parameters.pop(name, None) is None:
            return 400, {"__type": "ParameterNotFound", "message": name}
        return 200, {}

    def op_DescribeInstanceInformation(self, body):
        filters = optional(body, "Filters", list) or []
        if optional(body, "InstanceInformationFilterList", list):
            raise ShapeError("use Filters, not the legacy InstanceInformationFilterList")
        max_results = optional(body, "MaxResults", int) or 50
        if not 5 <= max_results <= 50:
            raise ShapeError("MaxResults out of 5..50")
        start = int(optional(body, "NextToken", str) or 0)
        selected = []
        for iid, spec in sorted(self.instances.items()):
            keep = True
            for f in filters:
                key, values = f.get("Key"), f.get("Values")
                if not isinstance(key, str) or not isinstance(values, list) or not values:
                    raise ShapeError("each filter needs Key and non-empty Values")
                if key == "InstanceIds":
                    if len(values) > 50:
                        raise ShapeError("InstanceIds filter has more than 50 values")
                    keep &= iid in values
                elif key == "PingStatus":
                    keep &= spec.get("ping", "Online") in values
                elif key.startswith("tag:"):
                    keep &= spec.get("tags", {}).get(key[4:]) in values
                else:
                    raise ShapeError(f"filter key {key} is not simulated")
            if keep:
                selected.append((iid, spec))
        page = selected[start:start + max_results]
        result = {"InstanceInformationList": [{
            "InstanceId": iid, "PingStatus": spec.get("ping", "Online"),
            "LastPingDateTime": time.time() - 30, "AgentVersion": "3.3.1142.0",
            "PlatformType": spec.get("platform", "Linux"),
            "PlatformName": spec.get("platform_name", "Amazon Linux"),
            "ResourceType": "EC2Instance",
        } for iid, spec in page]}
        if start + max_results < len(selected):
            result["NextToken"] = str(start + max_results)
        return 200, result

    def handle(self, op, body, headers):
        with self.lock:
            self.calls[op] = self.calls.get(op, 0) + 1
            record = {"op": op, "body": body, "valid": True, "error": None}
            self.requests.append(record)
            auth = headers.get("Authorization", "")
            if not auth.startswith("AWS4-HMAC-SHA256 Credential="):
                record.update(valid=False, error="unsigned request")
                return 400, {"__type": "MissingAuthenticationTokenException", "message": "unsigned"}
            if headers.get("Content-Type") != "application/x-amz-json-1.1":
                record.update(valid=False, error="wrong Content-Type")
                return 400, {"__type": "ValidationException", "message": "Content-Type"}
            if self.throttle_left.get(op, 0) > 0:
                self.throttle_left[op] -= 1
                self.throttled[op] = self.throttled.get(op, 0) + 1
                return 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
            method = getattr(self, "op_" + op, None)
            if method is None:
                record.update(valid=False, error="operation not simulated")
                return 400, {"__type": "UnknownOperationException", "message": op}
            try:
                return method(body)
            except ShapeError as e:
                record.update(valid=False, error=str(e))
                return 400, {"__type": "ValidationException", "message": str(e)}

    def stats(self):
        with self.lock:
            commands = []
            for cid in self.order:
                cmd = self.commands[cid]
                invs = cmd["invocations"].values()
                starts = [i.started for i in invs if i.started]
                ends = [i.ended for i in invs if i.ended]
                commands.append({
                    "command_id": cid, "instances": len(cmd["invocations"]),
                    "sent": cmd["sent"], "first_start": min(starts) if starts else None,
                    "last_end": max(ends) if ends else None,
                    "statuses": {i.instance_id: [i.status, i.details] for i in invs},
                })
            return {"calls": self.calls, "throttled": self.throttled, "commands": commands,
                    "parameters": self.parameters}


def make_handler(state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, code, payload, content_type="application/x-amz-json-1.1"):
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            if code != 200 and isinstance(payload, dict) and "__type" in payload:
                self.send_header("x-amzn-ErrorType", payload["__type"])
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/_control/requests":
                with state.lock:
                    self.reply(200, state.requests, "application/json")
            elif self.path == "/_control/stats":
                self.reply(200, state.stats(), "application/json")
            else:
                self.reply(404, {"message": "not found"}, "application/json")

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length)
            target = self.headers.get("X-Amz-Target", "")
            if not target.startswith("AmazonSSM."):
                self.reply(400, {"__type": "UnknownOperationException", "message": target})
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self.reply(400, {"__type": "SerializationException", "message": "not JSON"})
                return
            code, payload = state.handle(target[len("AmazonSSM."):], body, self.headers)
            self.reply(code, payload)

    return Handler


def bind(port_range):
    low, high = (int(p) for p in port_range.split("-"))
    for port in range(low, high + 1):
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), None)
            return server
        except OSError:
            continue
    sys.exit(f"no free port in {port_range}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--workdir", required=True, help="where invocations write their scripts")
    parser.add_argument("--port-range", default="19000-19999")
    args = parser.parse_args()
    with open(args.config) as f:
        state = State(json.load(f), args.workdir)
    server = bind(args.port_range)
    server.RequestHandlerClass = make_handler(state)
    server.daemon_threads = True
    print(f"LISTENING {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
