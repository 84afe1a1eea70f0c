# The README's Nushell session (tests run it verbatim after `plugin add`).
plugin use sandbox

let s = sandbox start --id demo --quiet                    # record: the session and its start report
let hello = sandbox exec demo sh -c 'echo hello from the sandbox'
let count = "hello, nu!\n" | sandbox exec demo wc -c      # piped input is the command's stdin
let sessions = sandbox list                                # table: id, working_dir, image, state, created, uptime, ports
print ($sessions | select id state uptime ports)
let stopped = sandbox stop demo

let report = {
  hello: $hello.stdout                  # "hello from the sandbox\n"
  count: ($count.stdout | str trim)     # "11"
  listed: ($sessions | get id)          # [demo]
  stopped: ($stopped | get id)          # [demo]
}
