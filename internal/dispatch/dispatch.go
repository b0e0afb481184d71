// Package dispatch hands values to a function on a goroutine of its own, so
// that a slow or panicking receiver (a metrics exporter, an audit writer) can
// never block or fail the code that sends: a sign-in, a key fetch.
//
// Send never waits. When the receiver falls behind by more than the buffer,
// values are dropped and counted; a panic in the receiver is recovered,
// counted, and the next value is delivered as usual.
package dispatch

import (
	"sync"
	"sync/atomic"
)

// Dispatcher delivers values of type T to one receiver, in order.
type Dispatcher[T any] struct {
	ch       chan T
	receive  func(T)
	onPanic  func(any)
	once     sync.Once
	stop     chan struct{}
	done     chan struct{}
	mu       sync.RWMutex // Send holds it to read closed and queue; Close to set closed
	closed   bool
	dropped  atomic.Uint64
	panicked atomic.Uint64
}

// New starts a dispatcher with room for buffer values in flight. onPanic,
// when not nil, is told of each recovered panic (after it is counted).
func New[T any](buffer int, receive func(T), onPanic func(any)) *Dispatcher[T] {
	d := &Dispatcher[T]{ch: make(chan T, buffer), receive: receive, onPanic: onPanic,
		stop: make(chan struct{}), done: make(chan struct{})}
	go d.run()
	return d
}

// Send queues v without waiting; it reports false when v was dropped (the
// buffer is full or the dispatcher closed).
func (d *Dispatcher[T]) Send(v T) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		d.dropped.Add(1)
		return false
	}
	select {
	case d.ch <- v:
		return true
	default:
		d.dropped.Add(1)
		return false
	}
}

// Dropped is the number of values not delivered because the receiver was
// behind or the dispatcher closed.
func (d *Dispatcher[T]) Dropped() uint64 { return d.dropped.Load() }

// Panics is the number of panics recovered from the receiver.
func (d *Dispatcher[T]) Panics() uint64 { return d.panicked.Load() }

// Close delivers what is queued, then stops the goroutine. It does not wait
// for a receiver that never returns. Close is idempotent.
func (d *Dispatcher[T]) Close() {
	d.once.Do(func() {
		d.mu.Lock()
		d.closed = true // no Send queues after this, so the drain sees all
		d.mu.Unlock()
		close(d.stop)
	})
}

// Drained returns a channel closed once the goroutine has stopped.
func (d *Dispatcher[T]) Drained() <-chan struct{} { return d.done }

func (d *Dispatcher[T]) run() {
	defer close(d.done)
	for {
		select {
		case v := <-d.ch:
			d.deliver(v)
		case <-d.stop:
			for {
				select {
				case v := <-d.ch:
					d.deliver(v)
				default:
					return
				}
			}
		}
	}
}

func (d *Dispatcher[T]) deliver(v T) {
	defer func() {
		if p := recover(); p != nil {
			d.panicked.Add(1)
			if d.onPanic != nil {
				d.onPanic(p)
			}
		}
	}()
	d.receive(v)
}
