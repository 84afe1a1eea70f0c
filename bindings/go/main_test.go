package sandbox

import (
	"fmt"
	"os"
	"testing"
)

// TestMain gives the Example its own scope (it uses the environment's configuration)
// and removes whatever it left.
func TestMain(m *testing.M) {
	scope := fmt.Sprintf("go-example-%d", os.Getpid())
	os.Setenv("SANDBOX_SCOPE", scope)
	os.Setenv("SANDBOX_PROVISION", "false")
	code := m.Run()
	removeScope(scope)
	os.Exit(code)
}
