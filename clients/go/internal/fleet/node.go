package fleet

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// RepoRoot is the coordinator's repository: the nearest directory above the working
// directory that holds lib/node/main.ts.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "lib", "node", "main.ts")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no lib/node/main.ts above the working directory")
		}
		dir = parent
	}
}

// Node is a coordinator node process: node --import tsx lib/node/main.ts.
type Node struct {
	Port int
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

// URL is the node's base URL.
func (n *Node) URL() string { return "http://127.0.0.1:" + strconv.Itoa(n.Port) }

// StartNode starts a node with env (PORT is set here) and waits until GET /readyz is 200:
// the node sends no readiness signal of its own.
func StartNode(env map[string]string) (*Node, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	set := map[string]string{"PORT": strconv.Itoa(port), "LOG_LEVEL": "warn"}
	for k, v := range env {
		set[k] = v
	}
	n := &Node{Port: port, done: make(chan struct{})}
	n.cmd = exec.Command("node", "--import", "tsx", "lib/node/main.ts")
	n.cmd.Dir = root
	n.cmd.Env = Env(set)
	n.cmd.Stdout, n.cmd.Stderr = (*lockedWriter)(n), (*lockedWriter)(n)
	// Pdeathsig: a test binary killed by its timeout takes its node processes with it
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = n.cmd.Wait(); close(n.done) }()
	err = Until(90*time.Second, "the node's /readyz", func() bool {
		select {
		case <-n.done:
			return true
		default:
		}
		res, err := http.Get(n.URL() + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
	select {
	case <-n.done:
		return nil, fmt.Errorf("node exited before it was ready: %s", n.Output())
	default:
	}
	if err != nil {
		n.Stop()
		return nil, fmt.Errorf("%w; output: %s", err, n.Output())
	}
	return n, nil
}

type lockedWriter Node

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.Write(p)
}

// Output is what the node wrote so far.
func (n *Node) Output() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.out.String()
}

// Stop sends SIGTERM (the node drains) and SIGKILLs it 15 s later if it is still there.
func (n *Node) Stop() {
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
		<-n.done
	}
}
