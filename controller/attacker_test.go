package controller_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowgate/flowgate/testbed"
)

// The attacker of the security tests is this test binary run again as
// user nobody, in a mode named by FLOWGATE_TEST_ATTACKER:
//
//	switch  connect to ADDR and answer the handshake as a switch with
//	        datapath id DPID; print "message TYPE" for everything else sent
//	idle    connect to ADDR and say nothing (reconnect when closed)
//	listen  listen on ADDR, where a controller target would point; print
//	        "accepted" for every connection
func TestMain(m *testing.M) {
	if mode := os.Getenv("FLOWGATE_TEST_ATTACKER"); mode != "" {
		attack(mode, os.Getenv("FLOWGATE_TEST_ADDR"), os.Getenv("FLOWGATE_TEST_DPID"))
		os.Exit(0)
	}
	code := m.Run()
	if attackerBin != "" {
		os.RemoveAll(filepath.Dir(attackerBin))
	}
	os.Exit(code)
}

func attack(mode, addr, dpidHex string) {
	fmt.Printf("uid %d\n", os.Getuid())
	switch mode {
	case "listen":
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Printf("listen: %v\n", err)
			time.Sleep(time.Hour)
		}
		fmt.Println("listening")
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Println("accepted")
			go io.Copy(io.Discard, nc)
		}
	case "idle", "switch":
		dpid, _ := strconv.ParseUint(dpidHex, 16, 64)
		for {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			fmt.Println("connected")
			if mode == "idle" {
				io.Copy(io.Discard, nc)
			} else {
				pretendSwitch(nc, dpid)
			}
			nc.Close()
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// pretendSwitch answers HELLO, FEATURES_REQUEST and ECHO as a switch
// would and reports every other message it gets.
func pretendSwitch(nc net.Conn, dpid uint64) {
	msg := func(typ uint8, xid uint32, body []byte) []byte {
		b := []byte{4, typ, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(b[4:], xid)
		b = append(b, body...)
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		return b
	}
	nc.Write(msg(0, 1, nil))
	r := bufio.NewReader(nc)
	for {
		hdr := make([]byte, 8)
		if _, err := io.ReadFull(r, hdr); err != nil {
			return
		}
		body := make([]byte, int(binary.BigEndian.Uint16(hdr[2:]))-8)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		xid := binary.BigEndian.Uint32(hdr[4:])
		switch hdr[1] {
		case 0: // HELLO
		case 2: // ECHO_REQUEST
			nc.Write(msg(3, xid, body))
		case 5: // FEATURES_REQUEST
			feat := binary.BigEndian.AppendUint64(nil, dpid)
			feat = append(feat, make([]byte, 16)...)
			nc.Write(msg(6, xid, feat))
		default:
			fmt.Printf("message type %d\n", hdr[1])
		}
	}
}

// attacker is a running attacker process.
type attacker struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	out bytes.Buffer
}

func (a *attacker) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.out.Write(p)
}

func (a *attacker) output() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.out.String()
}

// stop kills the attacker (by its pid) and waits for it.
func (a *attacker) stop() {
	if a.cmd.ProcessState == nil {
		a.cmd.Process.Kill()
		a.cmd.Wait()
	}
}

var (
	attackerOnce sync.Once
	attackerBin  string
	attackerErr  error
)

// attackerBinary is a copy of this test binary that user nobody may run
// (go test builds into a directory only its owner can enter); TestMain
// removes it.
func attackerBinary(t *testing.T) string {
	attackerOnce.Do(func() {
		self, err := os.Executable()
		if err != nil {
			attackerErr = err
			return
		}
		dir, err := os.MkdirTemp("", "flowgate-attacker-")
		if err != nil {
			attackerErr = err
			return
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			attackerErr = err
			return
		}
		data, err := os.ReadFile(self)
		if err != nil {
			attackerErr = err
			return
		}
		attackerBin = filepath.Join(dir, "attacker")
		attackerErr = os.WriteFile(attackerBin, data, 0o755)
	})
	if attackerErr != nil {
		t.Fatal(attackerErr)
	}
	return attackerBin
}

// startAttacker runs the attacker as nobody inside network namespace
// netns (forked from a thread that entered it).
func startAttacker(t *testing.T, netns, mode, addr string, dpid uint64) *attacker {
	t.Helper()
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	a := &attacker{cmd: exec.Command(attackerBinary(t))}
	a.cmd.Env = []string{"FLOWGATE_TEST_ATTACKER=" + mode, "FLOWGATE_TEST_ADDR=" + addr,
		fmt.Sprintf("FLOWGATE_TEST_DPID=%x", dpid), "PATH=/usr/bin:/bin"}
	a.cmd.Dir = "/"
	a.cmd.Stdout, a.cmd.Stderr = a, a
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	if err := testbed.InNetns(netns, a.cmd.Start); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.stop)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(a.output(), "uid ") {
		if time.Now().After(deadline) {
			t.Fatalf("attacker %s did not start: %q", mode, a.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if want := fmt.Sprintf("uid %d\n", uid); !strings.HasPrefix(a.output(), want) {
		t.Fatalf("attacker runs as %q, want %q", a.output(), want)
	}
	return a
}
