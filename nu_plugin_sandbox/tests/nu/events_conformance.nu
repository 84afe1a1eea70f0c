# The event stream's conformance scenario through the nu plugin: the steps of
# tests/conformance/events.json (read from that file; see its "about"), run as the Rust
# runner `the_conformance_scenario` in tests/tests/events.rs runs them, with the plugin's
# commands: `sandbox exec`, `sandbox task spawn`, `sandbox task kill` and `sandbox stop`
# for the actions, `sandbox events --from <next seq> --kind [file process port] --wait`
# for the reads. `events-conformance <json>` returns one record per step (its
# signatures, normalized, and whether they are what it expects) and how the stream ended;
# nu_events.rs runs it in a fresh, empty working dir and checks the result.

# One event as the scenario compares it: see "Signatures" in the json's "about".
def signature [e: record, root: string]: nothing -> string {
  let rel = {|p|
    if $p == null { return null }
    let inside = if ($p | str starts-with $root) { $p | str substring ($root | str length).. } else { $p }
    $inside | str trim --left --char '/'
  }
  let head = $'($e.kind) ($e.action)'
  match $e.kind {
    file => {
      let from = do $rel $e.from
      [
        $head
        (do $rel $e.path | default '')
        (if $from != null { $'from ($from)' })
        (if $e.dir == true { 'dir' })
      ] | compact | str join ' '
    }
    process => {
      [
        $head
        $e.process
        (if $e.code != null { $'code=($e.code)' })
        (if $e.signal != null { $'signal=($e.signal)' })
      ] | compact | str join ' '
    }
    port => $'($head) ($e.port) ($e.command | default "?")'
    _ => $head
  }
}

# Within one step, drops a `file modified P` after a `file created P` or `file modified P`.
def normalized [sigs: list<string>]: nothing -> list<string> {
  mut touched: list<string> = []
  mut out: list<string> = []
  for s in $sigs {
    let f = $s | split row ' '
    if $f.0 == file and ($f | length) > 2 {
      let again = $f.2 in $touched
      if $f.1 in [created modified] { $touched = $touched | append $f.2 }
      if $f.1 == modified and $again { continue }
    }
    $out = $out | append $s
  }
  $out
}

# Runs the scenario of the json file `file` in a new session on the current directory.
def events-conformance [file: path]: nothing -> record {
  let scenario = open $file
  let id = sandbox start --id events --quiet | get id
  let root = sandbox list | where id == $id | get 0.working_dir
  let wait = 30sec
  let settle = $scenario.settle_ms * 1ms

  # The working dir is watched once the agent says so.
  mut from = 1
  mut watching: any = null
  while $watching == null {
    let batch = sandbox events $id --from $from --wait $wait
    if ($batch | is-empty) { error make { msg: 'no watching event came' } }
    $watching = $batch | where action == watching | get 0?
    $from = ($batch | last | get seq) + 1
  }

  let kinds = [file process port]
  mut next = $watching.seq + 1
  mut ended = false
  mut named: record = {}
  mut steps: list<record> = []
  for step in $scenario.steps {
    if 'exec' in $step {
      let out = sandbox exec $id sh -c $step.exec
      if $out.exit_code != 0 { error make { msg: $'($step.exec): ($out.stderr)' } }
    } else if 'spawn' in $step {
      let task = sandbox task spawn $id sh -c $step.spawn
      if 'name' in $step { $named = $named | insert $step.name $task.id }
    } else if 'kill' in $step {
      sandbox task kill $id ($named | get $step.kill) --signal $step.signal
    } else if ($step.stop? == true) {
      # `sandbox stop` ends the session, after which it cannot be read by id: it is
      # stopped (from a job of this nushell, which says how it went) while the read
      # below waits, as the Rust runner's stream, already open, reads on over its stop.
      job spawn {
        sleep 1sec
        try { sandbox stop $id | get id } catch {|e| $e.msg } | job send 0
      } | ignore
    }

    let expect = $step.expect
    mut got: list<string> = []
    # Until as many signatures as expected, then on for the settle time (reads end at
    # the stream's end: its lifecycle stopped or lost record).
    for phase in [count settle] {
      loop {
        if $ended { break }
        if $phase == count and ((normalized $got | length) >= ($expect | length)) { break }
        let batch = if $phase == count {
          sandbox events $id --from $next --kind $kinds --wait $wait
        } else {
          sandbox events $id --from $next --kind $kinds --wait $settle
        }
        if ($batch | is-empty) { break }
        for e in $batch {
          $got = $got | append (signature $e $root)
          if $e.kind == lifecycle and $e.action in [stopped lost] { $ended = true }
        }
        $next = ($batch | last | get seq) + 1
      }
    }
    let got = normalized $got
    let ok = if ($step.unordered? == true) {
      ($got | uniq | sort) == ($expect | uniq | sort)
    } else {
      $got == $expect
    }
    $steps = $steps | append { step: ($step | to json -r), expect: $expect, got: $got, ok: $ok }
  }

  let stopped = job recv --timeout 1min
  # After the stop the session is gone: a read by id says so.
  let after = try { sandbox events $id | ignore; 'no error' } catch {|e| $e.msg }
  {
    stopped: $stopped
    root: $root
    watching_path: $watching.path
    steps: $steps
    ended: $ended
    after_stop: $after
    listed_after: (sandbox list | where id == $id | length)
  }
}
