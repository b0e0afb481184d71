package dispatch

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDeliversInOrder(t *testing.T) {
	var mu sync.Mutex
	var got []int
	d := New(16, func(v int) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, v)
	}, nil)
	for i := range 10 {
		require.True(t, d.Send(i))
	}
	d.Close()
	<-d.Drained()
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, got)
	assert.False(t, d.Send(10), "nothing is accepted after Close")
	assert.EqualValues(t, 1, d.Dropped())
}

// TestSlowReceiverNeverBlocksTheSender: a receiver that hangs costs the
// sender nothing; what does not fit is dropped and counted.
func TestSlowReceiverNeverBlocksTheSender(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	d := New(4, func(int) {
		select {
		case started <- struct{}{}:
		default:
		}
		<-release
	}, nil)
	require.True(t, d.Send(0))
	<-started // the receiver holds value 0
	for i := 1; i <= 100; i++ {
		d.Send(i) // returns at once, whatever the receiver does
	}
	assert.EqualValues(t, 96, d.Dropped(), "4 queued, the rest dropped")
	close(release)
	d.Close()
	<-d.Drained()
}

// TestPanickingReceiverIsContained: a panic is recovered and counted, and
// delivery goes on.
func TestPanickingReceiverIsContained(t *testing.T) {
	var mu sync.Mutex
	var got []int
	var reported []any
	d := New(8, func(v int) {
		if v == 1 {
			panic("boom")
		}
		mu.Lock()
		defer mu.Unlock()
		got = append(got, v)
	}, func(p any) { reported = append(reported, p) })
	for i := range 3 {
		d.Send(i)
	}
	d.Close()
	<-d.Drained()
	assert.Equal(t, []int{0, 2}, got)
	assert.EqualValues(t, 1, d.Panics())
	assert.Equal(t, []any{"boom"}, reported)
}

// TestCloseLosesNothingAccepted: every value Send accepted is delivered,
// even when Close races with the senders.
func TestCloseLosesNothingAccepted(t *testing.T) {
	for range 200 {
		var delivered atomic.Int64
		d := New(64, func(int) { delivered.Add(1) }, nil)
		var accepted atomic.Int64
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for i := range 50 {
					if d.Send(i) {
						accepted.Add(1)
					}
				}
			})
		}
		d.Close()
		wg.Wait()
		<-d.Drained()
		require.Equal(t, accepted.Load(), delivered.Load())
		require.EqualValues(t, 200, accepted.Load()+int64(d.Dropped()))
	}
}
