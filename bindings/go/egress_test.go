package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// egressServer is an HTTP server on the host's loopback answering body; its port.
func egressServer(t *testing.T, body string) uint16 {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var port uint16
	fmt.Sscan(u.Port(), &port)
	return port
}

// wget fetches http://name:port/ in the session through its proxy; what it printed.
func wget(t *testing.T, ctx context.Context, s *Session, name string, port uint16) string {
	t.Helper()
	// (busybox wget crashes on a refused proxied request when given -T.)
	r, err := s.Exec(ctx, []string{"sh", "-c", fmt.Sprintf("wget -q -O- http://%s:%d/ 2>&1; echo; echo rc=$?", name, port)},
		&ExecOptions{Timeout: time.Minute})
	if err != nil {
		t.Fatalf("wget %s: %v", name, err)
	}
	return string(r.Stdout)
}

func TestEgressPolicyLetsThroughWhatItAllowsAndLogsIt(t *testing.T) {
	sb, _, dir := newScope(t)
	ctx := ctxT(t)
	web, secret := egressServer(t, "hello from the host"), egressServer(t, "secret")
	rule := fmt.Sprintf("127.0.0.1:%d", web)
	pins := map[string][]string{"allowed.test": {"127.0.0.1"}, "denied.test": {"127.0.0.1"}}
	s, err := sb.Start(ctx, unique("egress"), dir, &StartOptions{Egress: &EgressPolicy{Allow: []string{"allowed.test", rule}, Hosts: pins}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	defer s.Stop(ctx)
	r := s.StartReport()
	if r.Network != "egress" || r.Egress == nil || r.Egress.Proxy != "http://127.0.0.1:3128" || r.Egress.EnforcerPID == 0 ||
		!reflect.DeepEqual(r.Egress.Rules, []string{"allowed.test", rule}) || !reflect.DeepEqual(r.Egress.Pinned, []string{"allowed.test", "denied.test"}) {
		t.Fatalf("report: %s", r.Raw)
	}
	if !s.EgressEnforcerRunning() {
		t.Fatal("the enforcer runs")
	}
	policyIs := func(what string, want EgressPolicy) {
		t.Helper()
		got, err := s.EgressPolicy(ctx)
		if err != nil || got == nil || !reflect.DeepEqual(*got, want) {
			t.Fatalf("%s: policy %+v, %v; want %+v", what, got, err, want)
		}
	}
	policyIs("at start", EgressPolicy{Allow: []string{"allowed.test", rule}, Hosts: pins})

	if out := wget(t, ctx, s, "allowed.test", web); !strings.HasPrefix(out, "hello from the host\n") {
		t.Fatalf("allowed through the proxy variables: %q", out)
	}
	if out := wget(t, ctx, s, "denied.test", secret); !strings.Contains(out, "403") || strings.Contains(out, "secret") {
		t.Fatalf("denied: %q", out)
	}

	// An allowed connection is logged when it closes, a moment after the answer.
	var allowed, denied *EgressDecision
	for deadline := time.Now().Add(20 * time.Second); (allowed == nil || denied == nil) && time.Now().Before(deadline); {
		log, err := s.NetworkLog(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := range log {
			switch log[i].Host {
			case "allowed.test":
				allowed = &log[i]
			case "denied.test":
				denied = &log[i]
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if allowed == nil || !allowed.Allowed || allowed.Via != "http" || allowed.Port != web || allowed.Address != "127.0.0.1" ||
		allowed.BytesIn < 20 || allowed.BytesOut < 20 || allowed.Reason != "" || time.Since(allowed.Time) > 5*time.Minute {
		t.Fatalf("allowed decision: %+v", allowed)
	}
	// The process that opened it, as the session's agent saw it: "pid wget".
	if p := allowed.Process; !strings.HasSuffix(p, " wget") || p[0] < '0' || p[0] > '9' {
		t.Fatalf("allowed decision's process: %q", allowed.Process)
	}
	if denied == nil || denied.Allowed || denied.Port != secret || !strings.Contains(denied.Reason, "not in the allow list") {
		t.Fatalf("denied decision: %+v", denied)
	}

	// Live: rules replaced, pins kept; the next connection is judged by them.
	if err := s.SetEgress(ctx, []string{rule}); err != nil {
		t.Fatal(err)
	}
	if out := wget(t, ctx, s, "allowed.test", web); !strings.Contains(out, "403") {
		t.Fatalf("refused once its rule is gone: %q", out)
	}
	policyIs("rules replaced, pins kept", EgressPolicy{Allow: []string{rule}, Hosts: pins})
	if err := s.SetEgress(ctx, []string{"allowed.test", "**.x"}); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), `"**.x"`) {
		t.Fatalf("bad rule: %v", err)
	}
	policyIs("a bad rule changes nothing", EgressPolicy{Allow: []string{rule}, Hosts: pins})
	if err := s.SetEgress(ctx, nil); err != nil {
		t.Fatal(err)
	}
	policyIs("no rules: nothing, still egress", EgressPolicy{Allow: []string{}, Hosts: pins})
	if err := s.SetEgress(ctx, []string{"ALLOWED.test", rule}); err != nil {
		t.Fatal(err)
	}
	policyIs("normalized", EgressPolicy{Allow: []string{"allowed.test", rule}, Hosts: pins})
	if out := wget(t, ctx, s, "allowed.test", web); !strings.HasPrefix(out, "hello from the host\n") {
		t.Fatalf("allowed again: %q", out)
	}
	if pid, err := s.RestartNetwork(ctx); err != nil || pid != int(r.Egress.EnforcerPID) {
		t.Fatalf("a running enforcer is kept: %d, %v", pid, err)
	}
}

func TestEgressBadInputAndSessionsOffTheEgressNetwork(t *testing.T) {
	sb, scope, dir := newScope(t)
	ctx := ctxT(t)
	start := func(o *StartOptions) error {
		s, err := sb.Start(ctx, unique("bad"), dir, o)
		if err == nil {
			s.Stop(ctx)
			s.Close()
		}
		return err
	}
	var cases []errCase
	for _, bad := range []string{"*", "**.x.test", "", "a.test:0", "10.0.0.1:70000", "bücher.test", "10.0.0.0/33"} {
		cases = append(cases, errCase{"rule " + bad, start(&StartOptions{Egress: &EgressPolicy{Allow: []string{"pypi.org", bad}}}), ErrInvalidArgument})
	}
	cases = append(cases,
		errCase{"address", start(&StartOptions{Egress: &EgressPolicy{Hosts: map[string][]string{"a.test": {"localhost"}}}}), ErrInvalidArgument},
		errCase{"name", start(&StartOptions{Egress: &EgressPolicy{Hosts: map[string][]string{"Upper.test": {"127.0.0.1"}}}}), ErrInvalidArgument},
		errCase{"bridge", start(&StartOptions{Network: "bridge", Egress: &EgressPolicy{Allow: []string{"pypi.org"}}}), ErrInvalidArgument},
	)
	_, err := New(&Config{Defaults: true, Egress: &EgressPolicy{Allow: []string{"*"}}})
	cases = append(cases, errCase{"config rule", err, ErrInvalidArgument})
	checkErrors(t, cases)
	if left := leftovers(t, scope); len(left) != 0 {
		t.Fatalf("nothing starts: %v", left)
	}

	s, err := sb.Start(ctx, unique("none"), dir, &StartOptions{Network: "none"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	defer s.Stop(ctx)
	if p, err := s.EgressPolicy(ctx); p != nil || err != nil {
		t.Fatalf("no policy off the egress network: %+v, %v", p, err)
	}
	if log, err := s.NetworkLog(ctx); len(log) != 0 || err != nil {
		t.Fatalf("no log: %+v, %v", log, err)
	}
	if s.EgressEnforcerRunning() || s.StartReport().Egress != nil {
		t.Fatal("no enforcer")
	}
	_, restartErr := s.RestartNetwork(ctx)
	checkErrors(t, []errCase{
		{"set", s.SetEgress(ctx, nil), ErrInvalidArgument},
		{"restart", restartErr, ErrInvalidArgument},
	})
}

func TestEgressEmptyPolicyReachesNothing(t *testing.T) {
	_, scope, dir := newScope(t)
	ctx := ctxT(t)
	web := egressServer(t, "hello from the host")
	// From the configuration: an empty policy is the egress network with nothing allowed.
	sb, err := New(&Config{Scope: scope, Provision: Bool(false), Egress: &EgressPolicy{Hosts: map[string][]string{"web.test": {"127.0.0.1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	s, err := sb.Start(ctx, unique("empty"), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	defer s.Stop(ctx)
	if s.StartReport().Network != "egress" {
		t.Fatalf("report: %s", s.StartReport().Raw)
	}
	if p, err := s.EgressPolicy(ctx); err != nil || len(p.Allow) != 0 || !reflect.DeepEqual(p.Hosts["web.test"], []string{"127.0.0.1"}) {
		t.Fatalf("policy: %+v, %v", p, err)
	}
	if out := wget(t, ctx, s, "web.test", web); !strings.Contains(out, "403") {
		t.Fatalf("nothing reachable: %q", out)
	}
	// The spec's policy replaces the configuration's.
	rules := &EgressPolicy{Allow: []string{"web.test", fmt.Sprintf("127.0.0.1:%d", web)}, Hosts: map[string][]string{"web.test": {"127.0.0.1"}}}
	s2, err := sb.Start(ctx, unique("spec"), dir, &StartOptions{Egress: rules})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	defer s2.Stop(ctx)
	if out := wget(t, ctx, s2, "web.test", web); !strings.HasPrefix(out, "hello from the host\n") {
		t.Fatalf("the spec's rules: %q", out)
	}
	// Network wins over the configuration's egress policy.
	other, err := New(&Config{Scope: scope, Provision: Bool(false), Network: "none", Egress: &EgressPolicy{Allow: []string{"pypi.org"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	s3, err := other.Start(ctx, unique("none"), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	defer s3.Stop(ctx)
	if s3.StartReport().Network != "none" {
		t.Fatalf("report: %s", s3.StartReport().Raw)
	}
}

func TestEgressCredentialsAreAddedOutsideTheSession(t *testing.T) {
	sb, _, dir := newScope(t)
	ctx := ctxT(t)
	var seen strings.Builder
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fmt.Fprintf(&seen, "X-Api-Key: %s\n", r.Header.Get("X-Api-Key"))
		mu.Unlock()
		fmt.Fprintf(w, "you sent:\nX-Api-Key: %s\n", r.Header.Get("X-Api-Key"))
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	key := unique("k3y")
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rules := []string{"api.test", "127.0.0.1:" + u.Port()}
	pins := map[string][]string{"api.test": {"127.0.0.1"}}
	cred := EgressCredential{Host: "api.test", Header: "X-Api-Key", FromFile: keyFile}

	// Typed errors before anything starts.
	for _, bad := range []struct {
		policy EgressPolicy
		says   string
	}{
		{EgressPolicy{Allow: rules, Credentials: []EgressCredential{{Host: "other.test", Header: "X", FromEnv: "T"}}}, "not allowed"},
		{EgressPolicy{Allow: rules, Credentials: []EgressCredential{{Host: "api.test", Header: "Host", FromEnv: "T"}}}, "frames or routes"},
		{EgressPolicy{Allow: rules, Credentials: []EgressCredential{{Host: "api.test", Header: "X"}}}, "exactly one"},
		{EgressPolicy{Allow: rules, Credentials: []EgressCredential{{Host: "api.test", Header: "X", FromFile: "rel/key"}}}, "absolute"},
		{EgressPolicy{Allow: rules, UpstreamCAFiles: []string{"ca.pem"}}, "egress upstream CA"},
	} {
		p := bad.policy
		_, err := sb.Start(ctx, unique("egress-cred"), dir, &StartOptions{Egress: &p})
		if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), bad.says) {
			t.Fatalf("%+v: %v, want invalid argument with %q", bad.policy, err, bad.says)
		}
	}
	if _, err := New(&Config{Egress: &EgressPolicy{Allow: []string{"a.test"},
		Credentials: []EgressCredential{{Host: "a.test", Header: "bad header", FromEnv: "T"}}}}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("config: %v", err)
	}

	policy := EgressPolicy{Allow: rules, Hosts: pins, Credentials: []EgressCredential{cred}}
	s, err := sb.Start(ctx, unique("egress-cred"), dir, &StartOptions{Egress: &policy})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	defer s.Stop(ctx)
	r, err := s.Exec(ctx, []string{"sh", "-c", "wget -q -O- http://api.test:" + u.Port() + "/echo 2>&1"}, &ExecOptions{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	out := string(r.Stdout)
	mu.Lock()
	got := seen.String()
	mu.Unlock()
	if !strings.Contains(got, "X-Api-Key: "+key) {
		t.Fatalf("the server gets the credential: %q", got)
	}
	if !strings.Contains(out, "you sent:") || strings.Contains(out, key) || !strings.Contains(out, "X-Api-Key: *") {
		t.Fatalf("scrubbed inside: %q", out)
	}
	var d *EgressDecision
	for deadline := time.Now().Add(20 * time.Second); d == nil && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		log, err := s.NetworkLog(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := range log {
			if log[i].Host == "api.test" {
				d = &log[i]
			}
		}
	}
	if d == nil || !d.Allowed || d.Injected != "X-Api-Key" {
		t.Fatalf("logged: %+v", d)
	}
	if got, err := s.EgressPolicy(ctx); err != nil || !reflect.DeepEqual(*got, policy) {
		t.Fatalf("policy %+v, %v; want %+v", got, err, policy)
	}
	// Live rule changes keep the credential; dropping its host is refused.
	if err := s.SetEgress(ctx, append(rules, "other.test")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.EgressPolicy(ctx); err != nil || !reflect.DeepEqual(got.Credentials, []EgressCredential{cred}) {
		t.Fatalf("kept: %+v, %v", got, err)
	}
	if err := s.SetEgress(ctx, rules[1:]); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "credential") {
		t.Fatalf("dropping the credential's host: %v", err)
	}
}
