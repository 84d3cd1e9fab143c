package main

import "encoding/json"

// adminArgs holds every admin call's arguments (the Java driver's names).
type adminArgs struct {
	Call   string `json:"call"`
	Topics []struct {
		Name       string            `json:"name"`
		Partitions int32             `json:"partitions"`
		RF         int16             `json:"rf"`
		Configs    map[string]string `json:"configs"`
	} `json:"topics"`
	ValidateOnly bool             `json:"validate_only"`
	Internal     bool             `json:"internal"`
	Names        []string         `json:"names"`
	Counts       map[string]int   `json:"counts"`
	Topic        string           `json:"topic"`
	Partitions   []int32          `json:"partitions"`
	Offsets      map[string]int64 `json:"offsets"`
	Spec         string           `json:"spec"`
	Group        string           `json:"group"`
	Groups       []string         `json:"groups"`
	Resources    []struct {
		Type string `json:"type"`
		Name string `json:"name"`
		Ops  []struct {
			Name  string  `json:"name"`
			Value *string `json:"value"`
			Op    string  `json:"op"`
		} `json:"ops"`
	} `json:"resources"`
}

// stringPtrs is a config map as both client libraries take it.
func stringPtrs(m map[string]string) map[string]*string {
	out := make(map[string]*string, len(m))
	for k, v := range m {
		out[k] = &v
	}
	return out
}

type adminClient interface {
	call(name string, raw json.RawMessage) (any, error)
}

// runCalls runs each call in turn and answers one entry per call, as the Java driver does.
func runCalls(calls []json.RawMessage, a adminClient) (any, error) {
	out := []map[string]any{}
	for _, raw := range calls {
		var head struct {
			Call string `json:"call"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return nil, err
		}
		res, err := a.call(head.Call, raw)
		entry := map[string]any{"call": head.Call, "ok": err == nil}
		if err != nil {
			entry["error"] = errOut(err)
		} else {
			entry["result"] = res
		}
		out = append(out, entry)
	}
	return out, nil
}
