// A scripted session of the official MCP TypeScript SDK against `sandbox mcp`, over
// stdio, against real podman. Run by cli/tests/mcp.rs; exits non-zero on the first
// failure.
//
// usage: node client.mjs SANDBOX ROOT OUTSIDE SESSION CONFIG
//   SANDBOX  the sandbox binary; ROOT the directory the server may mount (--root);
//   OUTSIDE  a directory outside it; SESSION the id of the session this script starts;
//   CONFIG   the README's `mcpServers` snippet: the server is started as it says, with
//            SANDBOX for "sandbox", ROOT for its example directory, and the test's scope.
// SANDBOX_MCP_NODE_MODULES names the node_modules holding @modelcontextprotocol/sdk
// (this script is run from a copy, away from any node_modules). The environment
// (SANDBOX_SCOPE...) is passed to the server; SANDBOX_COPY_DIR is its copy dir (outside
// ROOT), where it makes managed copies.

import { existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [SANDBOX, ROOT, OUTSIDE, SESSION, CONFIG] = process.argv.slice(2);
const sdk = join(process.env.SANDBOX_MCP_NODE_MODULES, "@modelcontextprotocol/sdk/dist/esm");
const { Client } = await import(pathToFileURL(join(sdk, "client/index.js")));
const { StdioClientTransport } = await import(pathToFileURL(join(sdk, "client/stdio.js")));

class Failed extends Error {}

function check(cond, what) {
  if (!cond) throw new Failed(what);
  console.log(`ok: ${what}`);
}

const textOf = (r) => r.content.map((c) => c.text ?? "").join("");

const client = new Client({ name: "sandbox-mcp-test", version: "1.0.0" });

// A call that must succeed; its structured result.
async function call(name, args, options) {
  const r = await client.callTool({ name, arguments: args }, undefined, options);
  if (r.isError) throw new Failed(`${name} ${JSON.stringify(args)} failed: ${textOf(r)}`);
  return r.structuredContent;
}

// A call that must fail as a tool error of `kind`.
async function refused(name, args, kind, what) {
  const r = await client.callTool({ name, arguments: args });
  const text = textOf(r);
  check(r.isError && text.startsWith(`${kind}:`) && r.structuredContent.error.kind === kind, `${what}: ${kind} (${text})`);
  return text;
}

const ps = async () => (await call("exec", { session: SESSION, argv: ["ps"] })).stdout;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, cond, ms = 20000) {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Failed(`timed out waiting until ${what}`);
    await sleep(100);
  }
  console.log(`ok: ${what}`);
}

async function scripted() {
  const server = JSON.parse(readFileSync(CONFIG, "utf8")).mcpServers.sandbox;
  check(server.command === "sandbox" && server.args.includes("/home/me/src"), "the README's snippet has its example");
  await client.connect(
    new StdioClientTransport({
      command: SANDBOX,
      // The snippet, and a post-create command the policy allows.
      args: [...server.args.map((a) => (a === "/home/me/src" ? ROOT : a)), "--allow-post-create", "--post-create", "touch post-create-ran"],
      env: { ...process.env, ...server.env, SANDBOX_SCOPE: process.env.SANDBOX_SCOPE },
      stderr: "inherit",
    }),
  );
  check(client.getServerVersion().name === "sandbox", "the server says who it is");
  const policy = (await call("session_list", {})).policy;
  check(policy.network === "none" && policy.roots[0] === realpathSync(ROOT), `the snippet's policy holds: ${JSON.stringify(policy)}`);
  const tools = (await client.listTools()).tools;
  const names = tools.map((t) => t.name).sort();
  check(names.length === 27 && names.includes("copy_remove") && names.includes("session_pause") && names.includes("session_fork") && names.includes("exec") && names.includes("network_log"), `tools listed: ${names}`);
  const exec = tools.find((t) => t.name === "exec");
  check(exec.inputSchema.additionalProperties === false, "exec has a closed schema");

  const started = await call("session_start", { working_dir: ROOT, id: SESSION });
  check(started.session === SESSION && started.report.working_dir === realpathSync(ROOT) && started.report.network === "none",
    "a session starts on the root, without network as the policy says");
  const pc = started.report.post_create;
  check(pc.length === 1 && pc[0].ran === true && pc[0].exit_code === 0 && existsSync(join(ROOT, "post-create-ran")),
    `the allowed post-create command ran: ${JSON.stringify(pc)}`);

  let r = await call("exec", { session: SESSION, argv: ["sh", "-c", "echo hello; echo oops >&2; exit 7"] });
  check(r.exit_code === 7 && r.stdout === "hello\n" && r.stderr === "oops\n", `exec: ${JSON.stringify(r)}`);

  // Progress notifications while it runs.
  const notes = [];
  r = await call("exec", { session: SESSION, argv: ["sh", "-c", "echo x; sleep 2.5"] }, {
    onprogress: (p) => notes.push(p),
  });
  check(r.stdout === "x\n" && notes.length >= 2 && notes.every((n) => n.message.includes("bytes of output")),
    `progress came: ${JSON.stringify(notes)}`);

  // A task, its logs followed to the end.
  const task = (await call("task_spawn", {
    session: SESSION, argv: ["sh", "-c", "echo one; sleep 0.3; echo two; sleep 0.3; echo three"],
  })).task;
  let out = "";
  let offset = 0;
  for (let reads = 0; ; reads++) {
    if (reads >= 50) throw new Failed("the task does not end");
    const chunk = await call("task_logs", { session: SESSION, task, offset, wait_secs: 5 });
    out += chunk.output;
    offset = chunk.next_offset;
    if (chunk.eof) break;
  }
  check(out === "one\ntwo\nthree\n", `task logs followed to the end: ${JSON.stringify(out)}`);
  const w = await call("task_wait", { session: SESSION, task });
  check(w.state === "exited" && w.exit_code === 0, `task_wait: ${JSON.stringify(w)}`);

  // Files.
  await call("file_write", { session: SESSION, path: "hello.txt", content: "héllo\n" });
  r = await call("file_read", { session: SESSION, path: "hello.txt" });
  check(r.content === "héllo\n" && r.size === 7, `file_read: ${JSON.stringify(r)}`);
  check(readFileSync(join(ROOT, "hello.txt"), "utf8") === "héllo\n", "the file is on the host");

  // The list tools and resources.
  const tasks = (await call("task_list", { session: SESSION })).tasks;
  check(tasks.length === 1 && tasks[0].id === task && tasks[0].exit_code === 0, `task_list: ${JSON.stringify(tasks)}`);
  const base = `sandbox://sessions/${SESSION}`;
  const listed = (await client.listResources()).resources.map((x) => x.uri);
  check(JSON.stringify(listed) === JSON.stringify([`${base}/tasks/${task}/merged`]), `resources/list: ${listed}`);
  const templates = (await client.listResourceTemplates()).resourceTemplates.map((x) => x.uriTemplate);
  check(templates.includes("sandbox://sessions/{session}/files/{+path}"), `resource templates: ${templates}`);
  let c = (await client.readResource({ uri: `${base}/tasks/${task}/stdout` })).contents[0];
  check(c.text === "one\ntwo\nthree\n" && c._meta.finished === true, `a task's output as a resource: ${JSON.stringify(c)}`);
  c = (await client.readResource({ uri: `${base}/files/hello.txt` })).contents[0];
  check(c.text === "héllo\n" && c._meta.size === 7, `a file as a resource: ${JSON.stringify(c)}`);
  let code = null;
  try {
    await client.readResource({ uri: `${base}/files/missing.txt` });
  } catch (e) {
    code = e.code;
  }
  check(code === -32002, `a missing file is resource-not-found (${code})`);

  // Cancel a long exec: the command is killed in the container. (With a progress
  // token, so the streamed path is the one cancelled; the Python client cancels the
  // plain one.)
  const abort = new AbortController();
  const long = client.callTool({ name: "exec", arguments: { session: SESSION, argv: ["sleep", "300"] } }, undefined, {
    signal: abort.signal,
    timeout: 600000,
    onprogress: () => {},
  });
  await until("the long exec runs", async () => (await ps()).includes("sleep 300"));
  abort.abort("the test cancels it");
  let rejected = false;
  try {
    await long;
  } catch {
    rejected = true;
  }
  check(rejected, "the cancelled call rejects");
  await until("cancelling killed the command", async () => !(await ps()).includes("sleep 300"));

  // Widening the policy is refused.
  await refused("session_start", { working_dir: OUTSIDE }, "permission_denied", "a working dir outside the roots");
  const text = await refused("session_start", { working_dir: ROOT, network: "bridge" }, "invalid_input", "a network argument");
  check(text.includes("unknown field `network`"), "the error names it");
  const narrowed = await refused("session_start", { working_dir: ROOT, allow_hosts: ["pypi.org"] }, "permission_denied",
    "allow_hosts on a server whose network is not egress");
  check(narrowed.includes("network none"), "the error says the network");
  await refused("network_log", { session: SESSION }, "invalid_input", "the network log of a session not on egress");

  // Bad input.
  await refused("exec", { session: "no-such-session", argv: ["true"] }, "session_not_found", "a missing session");
  await refused("task_wait", { session: SESSION, task: "task-0000000000000000" }, "not_found", "an unknown task");

  await call("session_stop", { session: SESSION });
  await refused("exec", { session: SESSION, argv: ["true"] }, "session_not_found", "a stopped session");
  // Copies of snapshots go in no running session's working dir, and SESSION's is the
  // whole root: the snapshots come after it.
  await snapshots();
  await client.close();
}

async function snapshots() {
  // Snapshots: take one, fork the session, diff a child; a fork of 0 children is refused.
  mkdirSync(join(ROOT, "proj"));
  writeFileSync(join(ROOT, "proj", "a.txt"), "a\n");
  const parent = `${SESSION}-p`;
  await call("session_start", { working_dir: "proj", id: parent });
  // The policy's post-create command ran there; without its file, a child shows whether it runs again.
  await call("exec", { session: parent, argv: ["rm", "post-create-ran"] });
  const snap = await call("session_snapshot", { session: parent, name: "ts-base" });
  check(snap.name === "ts-base" && snap.session === parent && snap.files === 1 && snap.freeze === "signals"
    && Array.isArray(snap.retaken) && snap.retaken.every((x) => ["working_dir", "container"].includes(x)),
    `session_snapshot: ${JSON.stringify(snap)}`);
  // No working_dir: a managed copy in the server's copy dir, outside the roots, named
  // after the session (by default the snapshot's name and a suffix).
  const managed = await call("session_start", { snapshot: "ts-base" });
  const managedDir = managed.working_dir;
  check(managed.session.startsWith("ts-base-") && managedDir === join(realpathSync(process.env.SANDBOX_COPY_DIR), managed.session)
    && readFileSync(join(managedDir, "a.txt"), "utf8") === "a\n", `session_start with a managed copy: ${JSON.stringify(managed)}`);
  const seen = await call("exec", { session: managed.session, argv: ["cat", "a.txt"] });
  check(seen.stdout === "a\n", "a session on a managed copy is usable though outside the roots");
  mkdirSync(join(ROOT, "forks"));
  const fork = await call("session_fork", { session: parent, count: 1, into: "forks" });
  const kid = fork.children[0].id;
  check(fork.children.length === 1 && kid === `${parent}-1` && fork.snapshot.name.startsWith(`${parent}-fork-`)
    && fork.children[0].working_dir === join(realpathSync(ROOT), "forks", kid)
    && readFileSync(join(ROOT, "forks", kid, "a.txt"), "utf8") === "a\n",
    `session_fork: ${JSON.stringify(fork)}`);
  const post = existsSync(join(ROOT, "forks", kid, "post-create-ran"));
  check(!post, "the policy's post-create command does not run again in a child");
  await call("exec", { session: kid, argv: ["sh", "-c", "echo bb > b.txt && rm a.txt"] });
  const d = await call("session_diff", { session: kid });
  check(JSON.stringify(d.changes) === JSON.stringify([
    { entry: "file", kind: "deleted", path: "a.txt", size: 0 },
    { entry: "file", kind: "added", path: "b.txt", size: 3 },
  ]) && d.total === 2, `session_diff: ${JSON.stringify(d)}`);
  await refused("session_fork", { session: parent, count: 0, into: "forks" }, "invalid_input", "a fork of 0 children");
  await refused("session_diff", { session: parent }, "invalid_input", "the diff of a session not from a snapshot");
  const snaps = (await call("snapshot_list", {})).snapshots.map((x) => x.name).sort();
  check(JSON.stringify(snaps) === JSON.stringify([fork.snapshot.name, "ts-base"].sort()), `snapshot_list: ${snaps}`);
  const kidDir = fork.children[0].working_dir;
  check(["overlay", "copy"].includes(fork.children[0].copy) && (process.geteuid() !== 0 || fork.children[0].copy === "overlay"),
    `how the child's copy was made: ${fork.children[0].copy}`);
  await refused("copy_remove", { path: kidDir }, "invalid_input", "removing a running child's copy");
  await call("session_stop", { session: kid });
  await call("session_stop", { session: parent });
  await call("session_stop", { session: managed.session });
  if (fork.children[0].copy === "overlay") {
    await refused("snapshot_remove", { name: fork.snapshot.name }, "invalid_input", "removing a snapshot an overlay copy reads from");
  }
  await refused("copy_remove", { path: join("forks", kid) }, "invalid_input", "a relative path");
  const removed = await call("copy_remove", { path: kidDir });
  check(removed.removed === kidDir && !existsSync(kidDir), `copy_remove: ${JSON.stringify(removed)}`);
  await refused("copy_remove", { path: kidDir }, "not_found", "a copy removed already");
  const removedManaged = await call("copy_remove", { path: managedDir });
  check(removedManaged.removed === managedDir && !existsSync(managedDir) && !existsSync(process.env.SANDBOX_COPY_DIR),
    `copy_remove of a managed copy, and the copy dir with it: ${JSON.stringify(removedManaged)}`);
  await call("snapshot_remove", { name: "ts-base" });
  await call("snapshot_remove", { name: fork.snapshot.name });
  check((await call("snapshot_list", {})).snapshots.length === 0, "snapshot_remove removes them");
}

const timer = setTimeout(() => {
  console.error("FAILED: the script did not finish in 240 s");
  process.exit(1);
}, 240000);
try {
  await scripted();
  console.log("all checks passed");
  clearTimeout(timer);
} catch (e) {
  console.error(`FAILED: ${e instanceof Failed ? e.message : e.stack}`);
  process.exit(1);
}
