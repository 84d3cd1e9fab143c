// Command compat-go is the Go driver of Runnel's compat suite: franz-go
// (kgo, kadm) and sarama behind one JSON-lines interface.
//
//	compat-go serve          one JSON command per stdin line, one JSON answer per stdout line
//	compat-go member JSON    one consumer-group member until SIGTERM (group_member.py's output format)
//
// A command is {"id", "op", "client": "franz"|"sarama", "bootstrap", "config": {...}, ...};
// the answer {"id", "ok", "result"|"error"}. The driver only performs
// operations and reports what the client saw: the assertions live in the
// Python tests.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Rec is a record as the tests write and read them; keys, values and
// header values are base64, nil for null.
type Rec struct {
	P      int32       `json:"p"`
	O      int64       `json:"o"`
	K      *string     `json:"k"`
	V      *string     `json:"v"`
	H      [][2]string `json:"h"`
	Ts     *int64      `json:"ts"`
	TsType string      `json:"tstype,omitempty"`
}

// Seeds is the bootstrap list: "host:port[,host:port...]", as Kafka's
// bootstrap.servers.
func (c *Cmd) Seeds() []string {
	return strings.Split(c.Bootstrap, ",")
}

// Cmd is one command; fields unused by an op are left empty.
type Cmd struct {
	ID        int               `json:"id"`
	Op        string            `json:"op"`
	Client    string            `json:"client"`
	Bootstrap string            `json:"bootstrap"`
	Config    map[string]string `json:"config"`
	Topic     string            `json:"topic"`
	Group     string            `json:"group"`
	Out       string            `json:"out"`
	Records   []Rec             `json:"records"`
	Want      map[string]int    `json:"want"`
	Start     map[string]int64  `json:"start"`
	TimeoutS  int               `json:"timeout_s"`
	Calls     []json.RawMessage `json:"calls"`
}

// Produced is one record's outcome, in input order.
type Produced struct {
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Error     *ErrorOut `json:"error,omitempty"`
}

// ErrorOut names an error the way the tests match it.
type ErrorOut struct {
	Class   string `json:"class"`
	Message string `json:"message"`
}

func errOut(err error) *ErrorOut {
	return &ErrorOut{Class: fmt.Sprintf("%T", err), Message: err.Error()}
}

func decode(s *string) []byte {
	if s == nil {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(*s)
	if err != nil {
		panic(err)
	}
	return b
}

func encode(b []byte) *string {
	if b == nil {
		return nil
	}
	s := base64.StdEncoding.EncodeToString(b)
	return &s
}

func want(c *Cmd) map[int32]int {
	out := map[int32]int{}
	for k, v := range c.Want {
		p, err := strconv.Atoi(k)
		if err != nil {
			panic(err)
		}
		out[int32(p)] = v
	}
	return out
}

func startOf(c *Cmd, p int32) (int64, bool) {
	o, ok := c.Start[strconv.Itoa(int(p))]
	return o, ok
}

func timeout(c *Cmd) int {
	if c.TimeoutS > 0 {
		return c.TimeoutS
	}
	return 120
}

func dispatch(c *Cmd) (any, error) {
	switch c.Client {
	case "franz":
		return franzOp(c)
	case "sarama":
		return saramaOp(c)
	}
	return nil, fmt.Errorf("unknown client %q", c.Client)
}

func serve() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 256<<20)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		if len(in.Bytes()) == 0 {
			continue
		}
		var c Cmd
		reply := map[string]any{}
		if err := json.Unmarshal(in.Bytes(), &c); err != nil {
			reply["ok"] = false
			reply["error"] = errOut(err)
		} else {
			reply["id"] = c.ID
			res, err := dispatch(&c)
			if err != nil {
				reply["ok"] = false
				reply["error"] = errOut(err)
			} else {
				reply["ok"] = true
				reply["result"] = res
			}
		}
		if err := out.Encode(reply); err != nil {
			panic(err)
		}
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: compat-go serve | member JSON")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		serve()
	case "member":
		var c Cmd
		if err := json.Unmarshal([]byte(os.Args[2]), &c); err != nil {
			panic(err)
		}
		if err := member(&c); err != nil {
			fmt.Fprintln(os.Stderr, "member:", err)
			os.Exit(1)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}
