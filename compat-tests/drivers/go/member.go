package main

import (
	"fmt"
	"log"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/IBM/sarama"
)

// memberOut writes group_member.py's format: "started", "assigned p,p,...",
// "partition offset" per record committed, "closed".
type memberOut struct {
	mu    sync.Mutex
	f     *os.File
	owned map[int32]bool
}

func newMemberOut(path string) (*memberOut, error) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	m := &memberOut{f: f, owned: map[int32]bool{}}
	m.line("started")
	return m, nil
}

func (m *memberOut) line(s string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	log.Printf("member: %s", s) // timestamped in the member's log
	fmt.Fprintln(m.f, s)
	m.f.Sync()
}

// change applies an assignment change and writes the new set.
func (m *memberOut) change(added, removed []int32) {
	m.mu.Lock()
	for _, p := range removed {
		delete(m.owned, p)
	}
	for _, p := range added {
		m.owned[p] = true
	}
	ps := make([]int, 0, len(m.owned))
	for p := range m.owned {
		ps = append(ps, int(p))
	}
	m.mu.Unlock()
	sort.Ints(ps)
	strs := make([]string, len(ps))
	for i, p := range ps {
		strs[i] = fmt.Sprint(p)
	}
	m.line("assigned " + strings.Join(strs, ","))
}

func (m *memberOut) record(p int32, o int64) { m.line(fmt.Sprintf("%d %d", p, o)) }

func (m *memberOut) close() {
	m.line("closed")
	m.f.Close()
}

func terminated() <-chan os.Signal {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	return ch
}

func member(c *Cmd) error {
	// The client's own log goes to stderr (the member's log file).
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	sarama.Logger = log.New(os.Stderr, "[sarama] ", log.LstdFlags|log.Lmicroseconds)
	out, err := newMemberOut(c.Out)
	if err != nil {
		return err
	}
	switch c.Client {
	case "franz":
		err = franzMember(c, out)
	case "sarama":
		err = saramaMember(c, out)
	default:
		err = fmt.Errorf("unknown client %q", c.Client)
	}
	if err != nil {
		return err
	}
	out.close()
	return nil
}
