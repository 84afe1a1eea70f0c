package sandbox

// #include <stdlib.h>
// #include <sandbox.h>
import "C"

import (
	"context"
	"sort"
	"time"
)

// EgressPolicy is what a session on the "egress" network may reach. Such a session has
// no interface but loopback: its processes reach the outside only through the session's
// proxy (HTTP_PROXY and friends are set to http://127.0.0.1:3128), which lets through
// what the rules allow.
//
// A rule is "example.com", "*.example.com" (any name below it), an address or network
// ("10.0.0.5", "10.0.0.0/8", "fd00::/8"), each optionally with a port
// ("example.com:443", "10.0.0.0/8:5432", "[fd00::1]:80"). Names resolving to loopback,
// private, link-local or other non-public addresses also need an address rule. No rules
// (nil or empty Allow): nothing is reachable.
type EgressPolicy struct {
	// Allow holds the allow rules (normalized text when read back).
	Allow []string `json:"allow"`
	// Hosts pins names to addresses: the session's enforcer answers them itself instead
	// of asking the host's resolver. Pinned names are still judged by the rules.
	Hosts map[string][]string `json:"hosts"`
	// Credentials are headers the session's enforcer (on the host) adds to requests for
	// chosen hosts, with values read on the host when the session starts: the value
	// never enters the session (HTTPS to such a host is terminated with a CA of the
	// session's own, which the session trusts; answers are scrubbed of the value).
	// Fixed at start: SetEgress keeps them.
	Credentials []EgressCredential `json:"credentials,omitempty"`
	// UpstreamCAFiles are CA files (PEM, absolute host paths) the enforcer trusts,
	// besides the host's store, for hosts with a credential. Fixed at start.
	UpstreamCAFiles []string `json:"upstream_ca_files,omitempty"`
}

// EgressCredential is a header the enforcer adds to requests for Host: Header gets the
// value of the host environment variable FromEnv or the contents of the host file
// FromFile (set exactly one; surrounding whitespace trimmed). Host is an exact name an
// allow rule allows; Header one that does not frame or route the request (not Host,
// Content-Length, Proxy-*...); FromFile an absolute path. Anything else is
// ErrInvalidArgument ("egress credential").
type EgressCredential struct {
	Host     string `json:"host"`
	Header   string `json:"header"` // e.g. "Authorization"
	FromEnv  string `json:"from_env,omitempty"`
	FromFile string `json:"from_file,omitempty"`
}

// EgressReport is the egress part of a StartReport.
type EgressReport struct {
	Rules       []string `json:"rules"`  // the allow rules, normalized
	Pinned      []string `json:"pinned"` // the pinned names
	Proxy       string   `json:"proxy"`  // the proxy URL the session's processes use
	EnforcerPID uint32   `json:"enforcer_pid"`
}

// EgressDecision is one connection the session's egress enforcer judged.
type EgressDecision struct {
	// Time is when it was decided; for an allowed connection, when it closed.
	Time time.Time
	// Host is the target as asked for: a name or an address.
	Host string
	Port uint16
	// Address is the address connected to; "" when it did not get that far.
	Address string
	// Via is "connect" (a CONNECT tunnel, e.g. HTTPS) or "http" (a plain HTTP request).
	Via     string
	Allowed bool
	// Reason is why it was refused (or how an allowed one ended, when not cleanly).
	Reason string
	// Injected is the name of the header the enforcer added (an egress credential's;
	// never its value); "" when none.
	Injected string
	// Process is the process in the session that opened the connection, as the
	// session's agent saw it: "pid name" (e.g. "42 wget"), or "direct: name" for a
	// process that used the enforcer's socket itself; "" when unknown.
	Process  string
	BytesOut uint64 // from the session to the target
	BytesIn  uint64 // from the target to the session
}

// egressSetters are a spec's or a config's set_egress, pin_egress_host,
// add_egress_credential and add_egress_upstream_ca functions.
type egressSetters struct {
	set        func(rules **C.char, n C.size_t, e **C.sbx_error) C.sbx_status
	pin        func(name, addr *C.char, e **C.sbx_error) C.sbx_status
	credential func(host, header, fromEnv, fromFile *C.char, e **C.sbx_error) C.sbx_status
	upstreamCA func(path *C.char, e **C.sbx_error) C.sbx_status
}

// applyEgress gives a spec or config the policy p through its setters (pins in name
// order, then credentials and upstream CAs in order).
func applyEgress(p *EgressPolicy, to egressSetters) error {
	if err := withRules(p.Allow, func(rules **C.char, n C.size_t) error {
		var e *C.sbx_error
		return check(to.set(rules, n, &e), e)
	}); err != nil {
		return err
	}
	names := make([]string, 0, len(p.Hosts))
	for name := range p.Hosts {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, addr := range p.Hosts[name] {
			if err := withCString(name, "egress host name", func(cn *C.char) error {
				return withCString(addr, "egress host address", func(ca *C.char) error {
					var e *C.sbx_error
					return check(to.pin(cn, ca, &e), e)
				})
			}); err != nil {
				return err
			}
		}
	}
	for _, c := range p.Credentials {
		if err := addCredential(c, to.credential); err != nil {
			return err
		}
	}
	for _, path := range p.UpstreamCAFiles {
		if err := withCString(path, "egress upstream CA", func(cp *C.char) error {
			var e *C.sbx_error
			return check(to.upstreamCA(cp, &e), e)
		}); err != nil {
			return err
		}
	}
	return nil
}

// addCredential passes c to an add_egress_credential function ("" FromEnv or FromFile
// as NULL).
func addCredential(c EgressCredential, add func(host, header, fromEnv, fromFile *C.char, e **C.sbx_error) C.sbx_status) error {
	optional := func(s, what string, f func(*C.char) error) error {
		if s == "" {
			return f(nil)
		}
		return withCString(s, what, f)
	}
	return withCString(c.Host, "egress credential host", func(host *C.char) error {
		return withCString(c.Header, "egress credential header", func(header *C.char) error {
			return optional(c.FromEnv, "egress credential from_env", func(env *C.char) error {
				return optional(c.FromFile, "egress credential from_file", func(file *C.char) error {
					var e *C.sbx_error
					return check(add(host, header, env, file, &e), e)
				})
			})
		})
	})
}

// withRules runs f with rules as a C array (freed when it returns).
func withRules(rules []string, f func(arr **C.char, n C.size_t) error) error {
	arr, release, err := cStrings(rules, "egress rule")
	if err != nil {
		return err
	}
	defer release()
	return f(arr, C.size_t(len(rules)))
}

// SetEgress replaces the allow rules of the session's egress policy (its pinned names,
// credentials and upstream CAs are kept: those are fixed at start); connections opened
// from then on are judged by them, open ones keep going. No rules allow nothing (the
// session stays on the egress network). ErrInvalidArgument for a bad rule or rules that
// no longer allow a credential's host (the policy in force is then unchanged) and for a
// session not on the "egress" network.
func (s *Session) SetEgress(ctx context.Context, rules []string) error {
	return s.use(ctx, func(p *C.sbx_session) error {
		return withRules(rules, func(arr **C.char, n C.size_t) error {
			var e *C.sbx_error
			return check(C.sbx_session_set_egress(p, arr, n, &e), e)
		})
	})
}

// EgressPolicy is the egress policy in force; nil (and no error) for a session not on
// the "egress" network.
func (s *Session) EgressPolicy(ctx context.Context) (*EgressPolicy, error) {
	return useValue(ctx, &s.cHandle, func(p *C.sbx_session) (*EgressPolicy, error) {
		var out *C.sbx_egress_policy
		var e *C.sbx_error
		status := C.sbx_session_egress_policy(p, &out, &e)
		if status == C.SBX_STATUS_NOT_AVAILABLE {
			C.sbx_error_free(e)
			return nil, nil
		}
		if err := check(status, e); err != nil {
			return nil, err
		}
		defer C.sbx_egress_policy_free(out)
		policy := &EgressPolicy{
			Allow: listOf(C.sbx_egress_policy_rule_count(out), func(i C.size_t) string {
				return C.GoString(C.sbx_egress_policy_rule(out, i))
			}),
			Hosts: map[string][]string{},
		}
		for i := C.size_t(0); i < C.sbx_egress_policy_pin_count(out); i++ {
			name := C.GoString(C.sbx_egress_policy_pin_name(out, i))
			policy.Hosts[name] = append(policy.Hosts[name], C.GoString(C.sbx_egress_policy_pin_address(out, i)))
		}
		// nil, not empty, when there are none (as a policy written by hand has).
		if C.sbx_egress_policy_credential_count(out) > 0 {
			policy.Credentials = listOf(C.sbx_egress_policy_credential_count(out), func(i C.size_t) EgressCredential {
				return EgressCredential{
					Host:     C.GoString(C.sbx_egress_policy_credential_host(out, i)),
					Header:   C.GoString(C.sbx_egress_policy_credential_header(out, i)),
					FromEnv:  optionalString(C.sbx_egress_policy_credential_from_env(out, i)),
					FromFile: optionalString(C.sbx_egress_policy_credential_from_file(out, i)),
				}
			})
		}
		if C.sbx_egress_policy_upstream_ca_count(out) > 0 {
			policy.UpstreamCAFiles = listOf(C.sbx_egress_policy_upstream_ca_count(out), func(i C.size_t) string {
				return C.GoString(C.sbx_egress_policy_upstream_ca(out, i))
			})
		}
		return policy, nil
	})
}

// NetworkLog is the decisions of the session's egress enforcer, oldest first: refusals
// when refused, allowed connections when they closed (a moment after the client had its
// answer). Empty for a session not on the "egress" network.
func (s *Session) NetworkLog(ctx context.Context) ([]EgressDecision, error) {
	return useValue(ctx, &s.cHandle, callOut(func(p *C.sbx_session, log **C.sbx_egress_log, e **C.sbx_error) C.sbx_status {
		return C.sbx_session_network_log(p, log, e)
	}, func(log *C.sbx_egress_log) ([]EgressDecision, error) {
		defer C.sbx_egress_log_free(log)
		return listOf(C.sbx_egress_log_len(log), func(i C.size_t) EgressDecision {
			return egressDecision(C.sbx_egress_log_get(log, i))
		}), nil
	}))
}

// optionalString is the Go string of p; "" for NULL.
func optionalString(p *C.char) string {
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

func egressDecision(d *C.sbx_egress_decision) EgressDecision {
	opt := optionalString
	return EgressDecision{
		Time:     time.UnixMilli(int64(C.sbx_egress_decision_time_unix_ms(d))),
		Host:     C.GoString(C.sbx_egress_decision_host(d)),
		Port:     uint16(C.sbx_egress_decision_port(d)),
		Address:  opt(C.sbx_egress_decision_address(d)),
		Via:      C.GoString(C.sbx_egress_decision_via(d)),
		Allowed:  bool(C.sbx_egress_decision_allowed(d)),
		Reason:   opt(C.sbx_egress_decision_reason(d)),
		Injected: opt(C.sbx_egress_decision_injected(d)),
		Process:  opt(C.sbx_egress_decision_process(d)),
		BytesOut: uint64(C.sbx_egress_decision_bytes_out(d)),
		BytesIn:  uint64(C.sbx_egress_decision_bytes_in(d)),
	}
}

// RestartNetwork starts the session's egress enforcer again if it is not running (while
// it is not, every connection is refused), with the policy in force, and returns its
// host pid (the running one's when it runs). ErrInvalidArgument for a session not on
// the "egress" network. ctx is checked before the call.
func (s *Session) RestartNetwork(ctx context.Context) (int, error) {
	return useValue(ctx, &s.cHandle, func(p *C.sbx_session) (int, error) {
		var pid C.uint32_t
		var e *C.sbx_error
		if err := check(C.sbx_session_restart_network(p, &pid, &e), e); err != nil {
			return 0, err
		}
		return int(pid), nil
	})
}

// EgressEnforcerRunning reports whether the session's egress enforcer runs (false for a
// session not on the "egress" network, and after Close).
func (s *Session) EgressEnforcerRunning() bool {
	running := false
	_ = s.do(func(p *C.sbx_session) error {
		running = bool(C.sbx_session_egress_enforcer_running(p))
		return nil
	})
	return running
}
