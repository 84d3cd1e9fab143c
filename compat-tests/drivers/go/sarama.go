package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// saramaConfig turns the test's config into a sarama.Config. sarama picks
// request versions from Config.Version, not from ApiVersions: version is
// "default" (sarama's DefaultVersion) or a Kafka version such as "4.1.0".
// Other keys: acks (all|1|0), idempotent (true), compression, balancer
// (range|roundrobin|sticky), instance_id, session_ms, mode (sync|async).
func saramaConfig(c *Cmd) (*sarama.Config, error) {
	conf := sarama.NewConfig()
	conf.ClientID = "runnel-compat-sarama"
	conf.Producer.Return.Successes = true
	conf.Producer.Return.Errors = true
	conf.Producer.RequiredAcks = sarama.WaitForAll
	conf.Producer.Partitioner = sarama.NewManualPartitioner
	conf.Consumer.Return.Errors = true
	conf.Consumer.Offsets.Initial = sarama.OffsetOldest
	conf.Metadata.AllowAutoTopicCreation = false
	for k, v := range c.Config {
		switch k {
		case "version":
			if v != "default" {
				ver, err := sarama.ParseKafkaVersion(v)
				if err != nil {
					return nil, err
				}
				conf.Version = ver
			}
		case "acks":
			conf.Producer.RequiredAcks = map[string]sarama.RequiredAcks{
				"all": sarama.WaitForAll, "1": sarama.WaitForLocal, "0": sarama.NoResponse}[v]
		case "idempotent":
			if v == "true" {
				conf.Producer.Idempotent = true
				conf.Net.MaxOpenRequests = 1
				conf.Producer.RequiredAcks = sarama.WaitForAll
			}
		case "compression":
			conf.Producer.Compression = map[string]sarama.CompressionCodec{
				"none": sarama.CompressionNone, "gzip": sarama.CompressionGZIP, "snappy": sarama.CompressionSnappy,
				"lz4": sarama.CompressionLZ4, "zstd": sarama.CompressionZSTD}[v]
		case "balancer":
			s := map[string]sarama.BalanceStrategy{"range": sarama.NewBalanceStrategyRange(),
				"roundrobin": sarama.NewBalanceStrategyRoundRobin(), "sticky": sarama.NewBalanceStrategySticky()}[v]
			conf.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{s}
		case "instance_id":
			conf.Consumer.Group.InstanceId = v
		case "session_ms":
			n, _ := strconv.Atoi(v)
			conf.Consumer.Group.Session.Timeout = time.Duration(n) * time.Millisecond
			conf.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
		case "mode":
		default:
			return nil, fmt.Errorf("unknown sarama config %q", k)
		}
	}
	return conf, conf.Validate()
}

func saramaOp(c *Cmd) (any, error) {
	conf, err := saramaConfig(c)
	if err != nil {
		return nil, err
	}
	switch c.Op {
	case "version":
		return map[string]string{"config_version": conf.Version.String()}, nil
	case "produce":
		if c.Config["mode"] == "async" {
			return saramaProduceAsync(c, conf)
		}
		return saramaProduceSync(c, conf)
	case "consume":
		return saramaConsume(c, conf)
	case "admin":
		a, err := sarama.NewClusterAdmin(c.Seeds(), conf)
		if err != nil {
			return nil, err
		}
		defer a.Close()
		return runCalls(c.Calls, saramaAdmin{a})
	}
	return nil, fmt.Errorf("unknown op %q", c.Op)
}

func saramaMessage(topic string, r Rec) *sarama.ProducerMessage {
	m := &sarama.ProducerMessage{Topic: topic, Partition: r.P}
	if k := decode(r.K); k != nil {
		m.Key = sarama.ByteEncoder(k)
	}
	if v := decode(r.V); v != nil {
		m.Value = sarama.ByteEncoder(v)
	}
	for _, h := range r.H {
		m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h[0]), Value: decode(&h[1])})
	}
	if r.Ts != nil {
		m.Timestamp = time.UnixMilli(*r.Ts)
	}
	return m
}

func saramaProduceSync(c *Cmd, conf *sarama.Config) (any, error) {
	p, err := sarama.NewSyncProducer(c.Seeds(), conf)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	msgs := make([]*sarama.ProducerMessage, len(c.Records))
	for i, r := range c.Records {
		msgs[i] = saramaMessage(c.Topic, r)
	}
	failed := map[*sarama.ProducerMessage]error{}
	if err := p.SendMessages(msgs); err != nil {
		perrs, ok := err.(sarama.ProducerErrors)
		if !ok {
			return nil, err
		}
		for _, pe := range perrs {
			failed[pe.Msg] = pe.Err
		}
	}
	out := make([]Produced, len(msgs))
	for i, m := range msgs {
		if e, bad := failed[m]; bad {
			out[i] = Produced{Partition: m.Partition, Offset: -1, Error: errOut(e)}
		} else {
			out[i] = Produced{Partition: m.Partition, Offset: m.Offset}
		}
	}
	return out, nil
}

func saramaProduceAsync(c *Cmd, conf *sarama.Config) (any, error) {
	p, err := sarama.NewAsyncProducer(c.Seeds(), conf)
	if err != nil {
		return nil, err
	}
	out := make([]Produced, len(c.Records))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for m := range p.Successes() {
			i := m.Metadata.(int)
			out[i] = Produced{Partition: m.Partition, Offset: m.Offset}
		}
	}()
	go func() {
		defer wg.Done()
		for e := range p.Errors() {
			i := e.Msg.Metadata.(int)
			out[i] = Produced{Partition: e.Msg.Partition, Offset: -1, Error: errOut(e.Err)}
		}
	}()
	for i, r := range c.Records {
		m := saramaMessage(c.Topic, r)
		m.Metadata = i
		p.Input() <- m
	}
	p.AsyncClose() // flushes, then closes Successes and Errors
	wg.Wait()
	return out, nil
}

func saramaConsume(c *Cmd, conf *sarama.Config) (any, error) {
	cons, err := sarama.NewConsumer(c.Seeds(), conf)
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	w := want(c)
	got := map[string][]Rec{}
	deadline := time.After(time.Duration(timeout(c)) * time.Second)
	for p, n := range w {
		start := sarama.OffsetOldest
		if o, ok := startOf(c, p); ok {
			start = o
		}
		pc, err := cons.ConsumePartition(c.Topic, p, start)
		if err != nil {
			return nil, err
		}
		recs := []Rec{}
		for len(recs) < n {
			select {
			case m := <-pc.Messages():
				ts := m.Timestamp.UnixMilli()
				r := Rec{P: m.Partition, O: m.Offset, K: encode(m.Key), V: encode(m.Value), Ts: &ts, H: [][2]string{}}
				for _, h := range m.Headers {
					r.H = append(r.H, [2]string{string(h.Key), *encodeNonNil(h.Value)})
				}
				recs = append(recs, r)
			case e := <-pc.Errors():
				pc.Close()
				return nil, e
			case <-deadline:
				pc.Close()
				return nil, fmt.Errorf("timed out on partition %d: got %d of %d", p, len(recs), n)
			}
		}
		pc.Close()
		got[strconv.Itoa(int(p))] = recs
	}
	return got, nil
}

// saramaMember: a sarama ConsumerGroup (classic protocol; sarama has no
// KIP-848). sarama's session.Commit reports no errors, so each record is
// committed with an OffsetCommit of the session's generation, sent by a
// second sarama client, and written only when it succeeded. (On the group's
// own client the commit would queue behind the partition consumers' long
// polls: a broker serves one request per connection at a time.)
func saramaMember(c *Cmd, out *memberOut) error {
	conf, err := saramaConfig(c)
	if err != nil {
		return err
	}
	conf.Consumer.Offsets.AutoCommit.Enable = false
	client, err := sarama.NewClient(c.Seeds(), conf)
	if err != nil {
		return err
	}
	g, err := sarama.NewConsumerGroupFromClient(c.Group, client)
	if err != nil {
		return err
	}
	committer, err := sarama.NewClient(c.Seeds(), conf)
	if err != nil {
		return err
	}
	defer committer.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-terminated(); cancel() }()
	go func() {
		for range g.Errors() {
		}
	}()
	h := &saramaHandler{out: out, client: committer, conf: conf, group: c.Group}
	for ctx.Err() == nil {
		if err := g.Consume(ctx, []string{c.Topic}, h); err != nil && ctx.Err() == nil {
			log.Printf("member: consume: %v", err)
			time.Sleep(100 * time.Millisecond)
		}
	}
	err = g.Close() // leaves the group
	client.Close()
	return err
}

type saramaHandler struct {
	out    *memberOut
	client sarama.Client
	conf   *sarama.Config
	group  string
	owned  []int32
}

func (h *saramaHandler) Setup(s sarama.ConsumerGroupSession) error {
	var now []int32
	for _, ps := range s.Claims() {
		now = append(now, ps...)
	}
	h.out.change(now, h.owned)
	h.owned = now
	return nil
}

func (h *saramaHandler) Cleanup(s sarama.ConsumerGroupSession) error {
	h.out.change(nil, h.owned)
	h.owned = nil
	return nil
}

func (h *saramaHandler) commit(s sarama.ConsumerGroupSession, m *sarama.ConsumerMessage) error {
	coord, err := h.client.Coordinator(h.group)
	if err != nil {
		return err
	}
	req := sarama.NewOffsetCommitRequest(h.conf, h.group)
	req.ConsumerGroupGeneration = s.GenerationID()
	req.ConsumerID = s.MemberID()
	if h.conf.Consumer.Group.InstanceId != "" {
		id := h.conf.Consumer.Group.InstanceId
		req.GroupInstanceId = &id
	}
	req.AddBlock(m.Topic, m.Partition, m.Offset+1, 0, "")
	resp, err := coord.CommitOffset(req)
	if err != nil {
		return err
	}
	for _, ps := range resp.Errors {
		for _, kerr := range ps {
			if kerr != sarama.ErrNoError {
				return kerr
			}
		}
	}
	return nil
}

func (h *saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			if err := h.commit(s, m); err != nil {
				// Not committed: the session is ending; the next owner reads it.
				log.Printf("member: commit of %d/%d failed: %v", m.Partition, m.Offset, err)
				return nil
			}
			h.out.record(m.Partition, m.Offset)
		case <-s.Context().Done():
			return nil
		}
	}
}

// saramaAdmin maps the suite's admin calls onto sarama.ClusterAdmin.
type saramaAdmin struct{ a sarama.ClusterAdmin }

func resourceType(t string) sarama.ConfigResourceType {
	if t == "broker" {
		return sarama.BrokerResource
	}
	return sarama.TopicResource
}

func (s saramaAdmin) call(name string, raw json.RawMessage) (any, error) {
	var a adminArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, err
	}
	switch name {
	case "createTopics":
		out := map[string]any{}
		for _, t := range a.Topics {
			d := &sarama.TopicDetail{NumPartitions: t.Partitions, ReplicationFactor: t.RF, ConfigEntries: stringPtrs(t.Configs)}
			if err := s.a.CreateTopic(t.Name, d, a.ValidateOnly); err != nil {
				out[t.Name] = map[string]any{"ok": false, "error": errOut(err)}
			} else {
				out[t.Name] = map[string]any{"ok": true}
			}
		}
		return out, nil
	case "listTopics":
		ts, err := s.a.ListTopics()
		if err != nil {
			return nil, err
		}
		names := []string{}
		for n := range ts {
			if a.Internal || n[0] != '_' {
				names = append(names, n)
			}
		}
		return map[string]any{"names": names}, nil
	case "describeTopics":
		md, err := s.a.DescribeTopics(a.Names)
		if err != nil {
			return nil, err
		}
		out := map[string]any{}
		for _, t := range md {
			if t.Err != sarama.ErrNoError {
				return nil, t.Err
			}
			parts := []map[string]any{}
			for _, p := range t.Partitions {
				parts = append(parts, map[string]any{"partition": p.ID, "leader": p.Leader,
					"replicas": len(p.Replicas), "isr": len(p.Isr)})
			}
			out[t.Name] = map[string]any{"internal": t.IsInternal, "partitions": parts}
		}
		return out, nil
	case "deleteTopics":
		for _, n := range a.Names {
			if err := s.a.DeleteTopic(n); err != nil {
				return nil, err
			}
		}
		return nil, nil
	case "createPartitions":
		for t, n := range a.Counts {
			if err := s.a.CreatePartitions(t, int32(n), nil, false); err != nil {
				return nil, err
			}
		}
		return nil, nil
	case "describeCluster":
		brokers, controller, err := s.a.DescribeCluster()
		if err != nil {
			return nil, err
		}
		nodes := []map[string]any{}
		for _, b := range brokers {
			host, port, _ := splitHostPort(b.Addr())
			nodes = append(nodes, map[string]any{"id": b.ID(), "host": host, "port": port})
		}
		return map[string]any{"controller": map[string]any{"id": controller}, "nodes": nodes}, nil
	case "describeConfigs":
		out := map[string]any{}
		for _, r := range a.Resources {
			es, err := s.a.DescribeConfig(sarama.ConfigResource{Type: resourceType(r.Type), Name: r.Name})
			if err != nil {
				return nil, err
			}
			cfgs := map[string]any{}
			for _, e := range es {
				cfgs[e.Name] = map[string]any{"value": e.Value, "source": e.Source.String(), "read_only": e.ReadOnly, "sensitive": e.Sensitive}
			}
			out[r.Name] = cfgs
		}
		return out, nil
	case "incrementalAlterConfigs":
		for _, r := range a.Resources {
			entries := map[string]sarama.IncrementalAlterConfigsEntry{}
			for _, op := range r.Ops {
				e := sarama.IncrementalAlterConfigsEntry{Operation: sarama.IncrementalAlterConfigsOperationSet, Value: op.Value}
				if op.Op == "DELETE" {
					e.Operation = sarama.IncrementalAlterConfigsOperationDelete
				}
				entries[op.Name] = e
			}
			if err := s.a.IncrementalAlterConfig(resourceType(r.Type), r.Name, entries, a.ValidateOnly); err != nil {
				return nil, err
			}
		}
		return nil, nil
	case "deleteRecords":
		offs := map[int32]int64{}
		for p, o := range a.Offsets {
			n, _ := strconv.Atoi(p)
			offs[int32(n)] = o
		}
		return nil, s.a.DeleteRecords(a.Topic, offs)
	case "listOffsets":
		spec := map[string]int64{"earliest": sarama.OffsetOldest, "latest": sarama.OffsetNewest, "max_timestamp": -3}
		at, ok := spec[a.Spec]
		if !ok {
			at, _ = strconv.ParseInt(a.Spec, 10, 64)
		}
		md, err := s.a.DescribeTopics([]string{a.Topic})
		if err != nil {
			return nil, err
		}
		req := map[string]map[int32]int64{a.Topic: {}}
		for _, p := range md[0].Partitions {
			req[a.Topic][p.ID] = at
		}
		rs, err := s.a.ListOffsets(req, nil)
		if err != nil {
			return nil, err
		}
		out := map[string]any{}
		for p, r := range rs[a.Topic] {
			if r.Err != nil && r.Err != sarama.ErrNoError {
				return nil, r.Err
			}
			out[strconv.Itoa(int(p))] = map[string]any{"offset": r.Offset, "timestamp": r.Timestamp}
		}
		return out, nil
	case "listConsumerGroups":
		gs, err := s.a.ListConsumerGroups()
		if err != nil {
			return nil, err
		}
		out := map[string]any{}
		for g, t := range gs {
			out[g] = map[string]any{"protocol_type": t}
		}
		return out, nil
	case "describeConsumerGroups":
		gs, err := s.a.DescribeConsumerGroups(a.Groups)
		if err != nil {
			return nil, err
		}
		out := map[string]any{}
		for _, g := range gs {
			if g.Err != sarama.ErrNoError {
				return nil, g.Err
			}
			members := []map[string]any{}
			for _, m := range g.Members {
				parts := []int32{}
				if as, err := m.GetMemberAssignment(); err == nil && as != nil {
					for _, ps := range as.Topics {
						parts = append(parts, ps...)
					}
				}
				members = append(members, map[string]any{"client_id": m.ClientId, "instance_id": m.GroupInstanceId, "partitions": parts})
			}
			out[g.GroupId] = map[string]any{"state": g.State, "protocol": g.Protocol, "members": members}
		}
		return out, nil
	case "deleteConsumerGroups":
		for _, g := range a.Groups {
			if err := s.a.DeleteConsumerGroup(g); err != nil {
				return nil, err
			}
		}
		return nil, nil
	case "listConsumerGroupOffsets":
		r, err := s.a.ListConsumerGroupOffsets(a.Group, nil)
		if err != nil {
			return nil, err
		}
		if r.Err != sarama.ErrNoError {
			return nil, r.Err
		}
		out := map[string]any{}
		for t, ps := range r.Blocks {
			for p, b := range ps {
				if b.Err != sarama.ErrNoError {
					return nil, b.Err
				}
				out[fmt.Sprintf("%s:%d", t, p)] = map[string]any{"offset": b.Offset, "metadata": b.Metadata}
			}
		}
		return out, nil
	case "alterConsumerGroupOffsets":
		offs := map[string]map[int32]sarama.OffsetAndMetadata{a.Topic: {}}
		for p, o := range a.Offsets {
			n, _ := strconv.Atoi(p)
			offs[a.Topic][int32(n)] = sarama.OffsetAndMetadata{Offset: o, LeaderEpoch: -1}
		}
		r, err := s.a.AlterConsumerGroupOffsets(a.Group, offs, nil)
		if err != nil {
			return nil, err
		}
		for _, ps := range r.Errors {
			for _, kerr := range ps {
				if kerr != sarama.ErrNoError {
					return nil, kerr
				}
			}
		}
		return nil, nil
	case "deleteConsumerGroupOffsets":
		for _, p := range a.Partitions {
			if err := s.a.DeleteConsumerGroupOffset(a.Group, a.Topic, p); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}
	return nil, fmt.Errorf("unknown admin call %q", name)
}
