package linux

// Generic ioctl requests, from <asm-generic/ioctls.h>.
const (
	TCGETS     = 0x5401
	TCSETS     = 0x5402
	TIOCGPGRP  = 0x540f
	TIOCSPGRP  = 0x5410
	TIOCGWINSZ = 0x5413
	TIOCSWINSZ = 0x5414
	FIONREAD   = 0x541b
	TIOCINQ    = FIONREAD
	FIONBIO    = 0x5421
	FIONCLEX   = 0x5450
	FIOCLEX    = 0x5451
	FIOASYNC   = 0x5452
)
