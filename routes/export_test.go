package routes

import "time"

// SetReconcileInterval sets c's periodic reconcile's interval; call it
// before Start.
func SetReconcileInterval(c *Controller, d time.Duration) { c.interval = d }

// ForgetGone runs c's periodic forgetting of going-away marks older than
// age.
func ForgetGone(c *Controller, age time.Duration) { c.forgetGone(age) }
