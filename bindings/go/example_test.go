package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	sandbox "example.invalid/sandbox/bindings/go"
)

// The README's Go example. The test run sets SANDBOX_SCOPE and SANDBOX_PROVISION.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir, _ := os.MkdirTemp("", "go-example")
	defer os.RemoveAll(dir)

	sb, err := sandbox.New(nil) // config file + SANDBOX_* variables
	if err != nil {
		panic(err)
	}
	defer sb.Close()
	s, err := sb.Start(ctx, "go-example", dir, nil)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	defer s.Stop(ctx)

	r, err := s.Exec(ctx, []string{"sh", "-c", "echo hello from $(uname -s)"}, nil)
	if err != nil {
		panic(err)
	}
	fmt.Printf("exit %d: %s", r.ExitCode, r.Stdout)
	r, _ = s.Exec(ctx, []string{"wc", "-c"}, &sandbox.ExecOptions{Stdin: []byte("bytes\x00in")})
	fmt.Printf("%s", r.Stdout)
	_, err = sb.Attach(ctx, "no-such-session")
	fmt.Println(errors.Is(err, sandbox.ErrSessionNotFound))
	// Output:
	// exit 0: hello from Linux
	// 8
	// true
}
