package kernel

// Task is one application thread as the Sentry sees it.
type Task struct {
	k *Kernel
}

// Kernel returns the kernel t belongs to.
func (t *Task) Kernel() *Kernel { return t.k }
