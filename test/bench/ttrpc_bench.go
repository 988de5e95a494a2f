// ttrpc_bench: containerd's own Go ttrpc client driving a shim's Task
// service, for make bench.  Prints one JSON object: calls, errors,
// throughput and latency percentiles, and (with -samples FILE) every
// latency in microseconds, one per line, for the plot.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"sort"
	"sync"
	"time"

	task "github.com/containerd/containerd/runtime/v2/task"
	"github.com/containerd/ttrpc"
)

type result struct {
	Method     string  `json:"method"`
	Conns      int     `json:"conns"`
	Calls      int     `json:"calls"`
	Errors     int     `json:"errors"`
	Seconds    float64 `json:"seconds"`
	Throughput float64 `json:"calls_per_second"`
	P50us      float64 `json:"p50_us"`
	P99us      float64 `json:"p99_us"`
}

func main() {
	addr := flag.String("addr", "", "shim socket path")
	id := flag.String("id", "", "task id")
	method := flag.String("method", "State", "State or Connect")
	conns := flag.Int("conns", 1, "concurrent connections")
	dur := flag.Duration("duration", 3*time.Second, "how long")
	samples := flag.String("samples", "", "write every latency (us) here")
	flag.Parse()

	var mu sync.Mutex
	var lat []float64
	errors := 0
	ctx := context.Background()
	deadline := time.Now().Add(*dur)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < *conns; i++ {
		conn, err := net.Dial("unix", *addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		client := ttrpc.NewClient(conn)
		tc := task.NewTaskClient(client)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer client.Close()
			local := make([]float64, 0, 1<<16)
			bad := 0
			for time.Now().Before(deadline) {
				t := time.Now()
				var err error
				if *method == "Connect" {
					_, err = tc.Connect(ctx, &task.ConnectRequest{ID: *id})
				} else {
					_, err = tc.State(ctx, &task.StateRequest{ID: *id})
				}
				if err != nil {
					bad++
					continue
				}
				local = append(local, float64(time.Since(t).Nanoseconds())/1000)
			}
			mu.Lock()
			lat = append(lat, local...)
			errors += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	sort.Float64s(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(p*float64(len(lat)-1))]
	}
	r := result{*method, *conns, len(lat), errors, secs, float64(len(lat)) / secs, pct(0.50), pct(0.99)}
	if *samples != "" {
		f, err := os.Create(*samples)
		if err == nil {
			w := bufio.NewWriter(f)
			for _, v := range lat {
				fmt.Fprintf(w, "%.1f\n", v)
			}
			w.Flush()
			f.Close()
		}
	}
	json.NewEncoder(os.Stdout).Encode(r)
}
