package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// franzOpts turns the test's config into kgo options. Keys: acks (all|1|0),
// idempotent (false disables it), compression (none|gzip|snappy|lz4|zstd),
// linger_ms, max_bytes (ProducerBatchMaxBytes).
func franzOpts(c *Cmd) ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(c.Seeds()...)}
	for k, v := range c.Config {
		switch k {
		case "acks":
			switch v {
			case "all":
				opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
			case "1":
				opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
			case "0":
				opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
			default:
				return nil, fmt.Errorf("acks %q", v)
			}
		case "idempotent":
			if v == "false" {
				opts = append(opts, kgo.DisableIdempotentWrite())
			}
		case "compression":
			codec := map[string]kgo.CompressionCodec{
				"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
				"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
			}[v]
			opts = append(opts, kgo.ProducerBatchCompression(codec))
		case "linger_ms":
			ms, _ := strconv.Atoi(v)
			opts = append(opts, kgo.ProducerLinger(time.Duration(ms)*time.Millisecond))
		case "max_bytes":
			n, _ := strconv.Atoi(v)
			opts = append(opts, kgo.ProducerBatchMaxBytes(int32(n)))
		case "group_protocol", "balancer", "instance_id", "session_ms":
			// group options, see franzMember
		default:
			return nil, fmt.Errorf("unknown franz config %q", k)
		}
	}
	return opts, nil
}

func franzOp(c *Cmd) (any, error) {
	opts, err := franzOpts(c)
	if err != nil {
		return nil, err
	}
	switch c.Op {
	case "version":
		return map[string]string{"franz-go": "see go.mod"}, nil
	case "produce":
		return franzProduce(c, opts)
	case "consume":
		return franzConsume(c, opts)
	case "admin":
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return nil, err
		}
		defer cl.Close()
		return runCalls(c.Calls, franzAdmin{kadm.NewClient(cl)})
	}
	return nil, fmt.Errorf("unknown op %q", c.Op)
}

func franzProduce(c *Cmd, opts []kgo.Opt) (any, error) {
	cl, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic(c.Topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(timeout(c))*time.Second)
	defer cancel()
	out := make([]Produced, len(c.Records))
	var wg sync.WaitGroup
	for i, r := range c.Records {
		rec := &kgo.Record{Partition: r.P, Key: decode(r.K), Value: decode(r.V)}
		for _, h := range r.H {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: h[0], Value: decode(&h[1])})
		}
		if r.Ts != nil {
			rec.Timestamp = time.UnixMilli(*r.Ts)
		}
		wg.Add(1)
		i := i
		cl.Produce(ctx, rec, func(rec *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				out[i] = Produced{Partition: r.P, Offset: -1, Error: errOut(err)}
				return
			}
			out[i] = Produced{Partition: rec.Partition, Offset: rec.Offset}
		})
	}
	wg.Wait()
	return out, nil
}

func franzConsume(c *Cmd, opts []kgo.Opt) (any, error) {
	w := want(c)
	parts := map[int32]kgo.Offset{}
	for p := range w {
		if o, ok := startOf(c, p); ok {
			parts[p] = kgo.NewOffset().At(o)
		} else {
			parts[p] = kgo.NewOffset().AtStart()
		}
	}
	cl, err := kgo.NewClient(append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{c.Topic: parts}))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(timeout(c))*time.Second)
	defer cancel()
	got := map[string][]Rec{}
	for p := range w {
		got[strconv.Itoa(int(p))] = []Rec{}
	}
	for !enough(got, w) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("timed out: got %v, want %v", countsOf(got), w)
		}
		for _, e := range fs.Errors() {
			return nil, fmt.Errorf("fetch %s/%d: %w", e.Topic, e.Partition, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			ts := r.Timestamp.UnixMilli()
			rec := Rec{P: r.Partition, O: r.Offset, K: encode(r.Key), V: encode(r.Value), Ts: &ts, H: [][2]string{}}
			for _, h := range r.Headers {
				rec.H = append(rec.H, [2]string{h.Key, *encodeNonNil(h.Value)})
			}
			rec.TsType = "CreateTime"
			if r.Attrs.TimestampType() == 1 {
				rec.TsType = "LogAppendTime"
			}
			k := strconv.Itoa(int(r.Partition))
			got[k] = append(got[k], rec)
		})
	}
	return got, nil
}

// encodeNonNil encodes header values, where kgo gives no null/empty distinction.
func encodeNonNil(b []byte) *string {
	if b == nil {
		b = []byte{}
	}
	return encode(b)
}

func enough(got map[string][]Rec, w map[int32]int) bool {
	for p, n := range w {
		if len(got[strconv.Itoa(int(p))]) < n {
			return false
		}
	}
	return true
}

func countsOf(got map[string][]Rec) map[string]int {
	out := map[string]int{}
	for k, v := range got {
		out[k] = len(v)
	}
	return out
}

// franzMember: a kgo group consumer. group_protocol=consumer opts into
// KIP-848 (ServerSideBalancer); balancer picks the classic balancer
// (cooperative-sticky by default, as kgo's own default).
func franzMember(c *Cmd, out *memberOut) error {
	opts, err := franzOpts(c)
	if err != nil {
		return err
	}
	var balancer kgo.GroupBalancer = kgo.CooperativeStickyBalancer()
	switch c.Config["balancer"] {
	case "range":
		balancer = kgo.RangeBalancer()
	case "sticky":
		balancer = kgo.StickyBalancer()
	}
	opts = append(opts,
		kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelInfo, func() string {
			return time.Now().Format("15:04:05.000000 ")
		})),
		kgo.ConsumerGroup(c.Group), kgo.ConsumeTopics(c.Topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.Balancers(balancer),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { out.change(m[c.Topic], nil) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { out.change(nil, m[c.Topic]) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { out.change(nil, m[c.Topic]) }),
	)
	if c.Config["group_protocol"] == "consumer" {
		opts = append(opts, kgo.ServerSideBalancer())
	}
	if id := c.Config["instance_id"]; id != "" {
		opts = append(opts, kgo.InstanceID(id))
	}
	if ms := c.Config["session_ms"]; ms != "" {
		n, _ := strconv.Atoi(ms)
		opts = append(opts, kgo.SessionTimeout(time.Duration(n)*time.Millisecond), kgo.HeartbeatInterval(500*time.Millisecond))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-terminated(); cancel() }()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			for _, r := range p.Records {
				if err := cl.CommitRecords(ctx, r); err != nil {
					// Not committed: consume it again (here or at the next owner).
					cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{
						r.Topic: {r.Partition: {Epoch: r.LeaderEpoch, Offset: r.Offset}}})
					return
				}
				out.record(r.Partition, r.Offset)
			}
		})
	}
	cl.Close() // leaves the group
	return nil
}

// franzAdmin maps the suite's admin calls onto kadm.
type franzAdmin struct{ a *kadm.Client }

func (f franzAdmin) call(name string, raw json.RawMessage) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var a adminArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, err
	}
	switch name {
	case "createTopics":
		out := map[string]any{}
		for _, t := range a.Topics {
			cfg := stringPtrs(t.Configs)
			var rs kadm.CreateTopicResponses
			var err error
			if a.ValidateOnly {
				rs, err = f.a.ValidateCreateTopics(ctx, t.Partitions, t.RF, cfg, t.Name)
			} else {
				rs, err = f.a.CreateTopics(ctx, t.Partitions, t.RF, cfg, t.Name)
			}
			if err != nil {
				return nil, err
			}
			r := rs[t.Name]
			if r.Err != nil {
				out[t.Name] = map[string]any{"ok": false, "error": errOut(r.Err)}
			} else {
				out[t.Name] = map[string]any{"ok": true, "partitions": r.NumPartitions, "rf": r.ReplicationFactor}
			}
		}
		return out, nil
	case "listTopics":
		var td kadm.TopicDetails
		var err error
		if a.Internal {
			td, err = f.a.ListTopicsWithInternal(ctx)
		} else {
			td, err = f.a.ListTopics(ctx)
		}
		if err != nil {
			return nil, err
		}
		return map[string]any{"names": td.Names()}, nil
	case "describeTopics":
		td, err := f.a.ListTopics(ctx, a.Names...)
		if err != nil {
			return nil, err
		}
		out := map[string]any{}
		for _, t := range td {
			if t.Err != nil {
				return nil, t.Err
			}
			parts := []map[string]any{}
			for _, p := range t.Partitions.Sorted() {
				parts = append(parts, map[string]any{"partition": p.Partition, "leader": p.Leader,
					"replicas": len(p.Replicas), "isr": len(p.ISR)})
			}
			out[t.Topic] = map[string]any{"internal": t.IsInternal, "topic_id": t.ID.String(), "partitions": parts}
		}
		return out, nil
	case "deleteTopics":
		rs, err := f.a.DeleteTopics(ctx, a.Names...)
		if err != nil {
			return nil, err
		}
		return nil, rs.Error()
	case "createPartitions":
		for topic, n := range a.Counts {
			rs, err := f.a.UpdatePartitions(ctx, n, topic)
			if err != nil {
				return nil, err
			}
			if err := rs.Error(); err != nil {
				return nil, err
			}
		}
		return nil, nil
	case "describeCluster":
		m, err := f.a.BrokerMetadata(ctx)
		if err != nil {
			return nil, err
		}
		nodes := []map[string]any{}
		for _, b := range m.Brokers {
			nodes = append(nodes, map[string]any{"id": b.NodeID, "host": b.Host, "port": b.Port})
		}
		return map[string]any{"cluster_id": m.Cluster, "controller": map[string]any{"id": m.Controller}, "nodes": nodes}, nil
	case "describeConfigs":
		out := map[string]any{}
		for _, r := range a.Resources {
			var rc kadm.ResourceConfigs
			var err error
			if r.Type == "broker" {
				id, _ := strconv.Atoi(r.Name)
				rc, err = f.a.DescribeBrokerConfigs(ctx, int32(id))
			} else {
				rc, err = f.a.DescribeTopicConfigs(ctx, r.Name)
			}
			if err != nil {
				return nil, err
			}
			for _, one := range rc {
				if one.Err != nil {
					return nil, one.Err
				}
				cfgs := map[string]any{}
				for _, c := range one.Configs {
					cfgs[c.Key] = map[string]any{"value": c.Value, "source": c.Source.String(), "sensitive": c.Sensitive}
				}
				out[r.Name] = cfgs
			}
		}
		return out, nil
	case "incrementalAlterConfigs":
		for _, r := range a.Resources {
			var acs []kadm.AlterConfig
			for _, op := range r.Ops {
				ac := kadm.AlterConfig{Name: op.Name, Value: op.Value}
				switch op.Op {
				case "", "SET":
					ac.Op = kadm.SetConfig
				case "DELETE":
					ac.Op = kadm.DeleteConfig
				default:
					return nil, fmt.Errorf("op %q", op.Op)
				}
				acs = append(acs, ac)
			}
			var rs kadm.AlterConfigsResponses
			var err error
			switch {
			case r.Type == "broker":
				id, _ := strconv.Atoi(r.Name)
				if a.ValidateOnly {
					rs, err = f.a.ValidateAlterBrokerConfigs(ctx, acs, int32(id))
				} else {
					rs, err = f.a.AlterBrokerConfigs(ctx, acs, int32(id))
				}
			case a.ValidateOnly:
				rs, err = f.a.ValidateAlterTopicConfigs(ctx, acs, r.Name)
			default:
				rs, err = f.a.AlterTopicConfigs(ctx, acs, r.Name)
			}
			if err != nil {
				return nil, err
			}
			for _, one := range rs {
				if one.Err != nil {
					return nil, one.Err
				}
			}
		}
		return nil, nil
	case "deleteRecords":
		os := kadm.Offsets{}
		for p, o := range a.Offsets {
			n, _ := strconv.Atoi(p)
			os.AddOffset(a.Topic, int32(n), o, -1)
		}
		rs, err := f.a.DeleteRecords(ctx, os)
		if err != nil {
			return nil, err
		}
		out := map[string]int64{}
		for _, r := range rs.Sorted() {
			if r.Err != nil {
				return nil, r.Err
			}
			out[strconv.Itoa(int(r.Partition))] = r.LowWatermark
		}
		return out, nil
	case "listOffsets":
		var lo kadm.ListedOffsets
		var err error
		switch a.Spec {
		case "earliest":
			lo, err = f.a.ListStartOffsets(ctx, a.Topic)
		case "latest":
			lo, err = f.a.ListEndOffsets(ctx, a.Topic)
		case "max_timestamp":
			lo, err = f.a.ListMaxTimestampOffsets(ctx, a.Topic)
		default:
			ms, _ := strconv.ParseInt(a.Spec, 10, 64)
			lo, err = f.a.ListOffsetsAfterMilli(ctx, ms, a.Topic)
		}
		if err != nil {
			return nil, err
		}
		out := map[string]any{}
		var lerr error
		lo.Each(func(o kadm.ListedOffset) {
			if o.Err != nil {
				lerr = o.Err
			}
			out[strconv.Itoa(int(o.Partition))] = map[string]any{"offset": o.Offset, "timestamp": o.Timestamp}
		})
		return out, lerr
	case "listConsumerGroups":
		gs, err := f.a.ListGroups(ctx)
		if err != nil {
			return nil, err
		}
		out := map[string]any{}
		for _, g := range gs {
			out[g.Group] = map[string]any{"state": g.State, "protocol_type": g.ProtocolType}
		}
		return out, nil
	case "describeConsumerGroups":
		gs, err := f.a.DescribeGroups(ctx, a.Groups...)
		if err != nil {
			return nil, err
		}
		out := map[string]any{}
		for _, g := range gs {
			if g.Err != nil {
				return nil, g.Err
			}
			members := []map[string]any{}
			for _, m := range g.Members {
				parts := []int32{}
				if ca, ok := m.Assigned.AsConsumer(); ok {
					for _, t := range ca.Topics {
						parts = append(parts, t.Partitions...)
					}
				}
				members = append(members, map[string]any{"client_id": m.ClientID, "instance_id": m.InstanceID, "partitions": parts})
			}
			out[g.Group] = map[string]any{"state": g.State, "protocol": g.Protocol, "members": members}
		}
		return out, nil
	case "describeKip848Groups":
		gs, err := f.a.DescribeConsumerGroups(ctx, a.Groups...)
		if err != nil {
			return nil, err
		}
		out := map[string]any{}
		for _, g := range gs {
			if g.Err != nil {
				return nil, g.Err
			}
			members := []map[string]any{}
			for _, m := range g.Members {
				parts := []int32{}
				m.Assignment.EachPartitions(func(_ string, ps []int32) { parts = append(parts, ps...) })
				members = append(members, map[string]any{"client_id": m.ClientID, "partitions": parts})
			}
			out[g.Group] = map[string]any{"state": g.State, "assignor": g.AssignorName, "epoch": g.Epoch, "members": members}
		}
		return out, nil
	case "deleteConsumerGroups":
		rs, err := f.a.DeleteGroups(ctx, a.Groups...)
		if err != nil {
			return nil, err
		}
		return nil, rs.Error()
	case "listConsumerGroupOffsets":
		rs, err := f.a.FetchOffsets(ctx, a.Group)
		if err != nil {
			return nil, err
		}
		if err := rs.Error(); err != nil {
			return nil, err
		}
		out := map[string]any{}
		rs.Each(func(o kadm.OffsetResponse) {
			out[fmt.Sprintf("%s:%d", o.Topic, o.Partition)] = map[string]any{"offset": o.At, "metadata": o.Metadata}
		})
		return out, nil
	case "alterConsumerGroupOffsets":
		os := kadm.Offsets{}
		for p, o := range a.Offsets {
			n, _ := strconv.Atoi(p)
			os.AddOffset(a.Topic, int32(n), o, -1)
		}
		rs, err := f.a.CommitOffsets(ctx, a.Group, os)
		if err != nil {
			return nil, err
		}
		return nil, rs.Error()
	case "deleteConsumerGroupOffsets":
		ts := kadm.TopicsSet{}
		ts.Add(a.Topic, a.Partitions...)
		rs, err := f.a.DeleteOffsets(ctx, a.Group, ts)
		if err != nil {
			return nil, err
		}
		return nil, rs.Error()
	}
	return nil, fmt.Errorf("unknown admin call %q", name)
}
