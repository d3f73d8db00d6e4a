package auth

import (
	"testing"

	"visor.dev/visor/pkg/abi/linux"
)

func TestCheckPermission(t *testing.T) {
	ns := NewRootUserNamespace()
	root := NewRootCredentials(ns)
	alice := NewUserCredentials(1000, 1000, []KGID{50}, nil, ns)
	readSearch := NewUserCredentials(1001, 1001, nil, &TaskCapabilities{Effective: CapabilitySetOf(linux.CAP_DAC_READ_SEARCH)}, ns)
	for _, tc := range []struct {
		name  string
		creds *Credentials
		mode  uint16
		uid   KUID
		gid   KGID
		ats   AccessTypes
		want  error
	}{
		{"owner read", alice, linux.S_IFREG | 0o400, 1000, 0, MayRead, nil},
		{"owner write denied", alice, linux.S_IFREG | 0o400, 1000, 0, MayWrite, linux.EACCES},
		{"owner bits win over other", alice, linux.S_IFREG | 0o007, 1000, 0, MayRead, linux.EACCES},
		{"group", alice, linux.S_IFREG | 0o040, 0, 1000, MayRead, nil},
		{"supplementary group", alice, linux.S_IFREG | 0o060, 0, 50, MayReadWrite, nil},
		{"other", alice, linux.S_IFREG | 0o004, 0, 0, MayRead, nil},
		{"other denied", alice, linux.S_IFREG | 0o640, 0, 0, MayRead, linux.EACCES},
		{"dir search", alice, linux.S_IFDIR | 0o001, 0, 0, MayExec, nil},
		{"dir search denied", alice, linux.S_IFDIR | 0o660, 0, 0, MayExec, linux.EACCES},
		{"root overrides", root, linux.S_IFREG | 0o000, 5, 5, MayReadWrite, nil},
		{"root dir", root, linux.S_IFDIR | 0o000, 5, 5, MayReadWrite | MayExec, nil},
		{"root exec needs an x bit", root, linux.S_IFREG | 0o600, 5, 5, MayExec, linux.EACCES},
		{"root exec with x bit", root, linux.S_IFREG | 0o010, 5, 5, MayExec, nil},
		{"read-search reads", readSearch, linux.S_IFREG | 0o000, 5, 5, MayRead, nil},
		{"read-search no write", readSearch, linux.S_IFREG | 0o000, 5, 5, MayWrite, linux.EACCES},
		{"read-search searches dirs", readSearch, linux.S_IFDIR | 0o000, 5, 5, MayRead | MayExec, nil},
		{"read-search no exec of files", readSearch, linux.S_IFREG | 0o000, 5, 5, MayExec, linux.EACCES},
	} {
		if got := CheckPermission(tc.creds, tc.mode, tc.uid, tc.gid, tc.ats); got != tc.want {
			t.Errorf("%s: CheckPermission = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCredentials(t *testing.T) {
	ns := NewRootUserNamespace()
	root := NewRootCredentials(ns)
	if !root.HasCapability(linux.CAP_SYS_ADMIN) || !CanActAsOwner(root, 1234) {
		t.Errorf("root lacks capabilities")
	}
	u := NewUserCredentials(1000, 100, nil, nil, ns)
	if u.HasCapability(linux.CAP_CHOWN) || CanActAsOwner(u, 0) || !CanActAsOwner(u, 1000) {
		t.Errorf("user credentials: wrong capabilities")
	}
	f := u.Fork()
	f.ExtraKGIDs = append(f.ExtraKGIDs, 7)
	if u.InGroup(7) || !f.InGroup(7) || !f.InGroup(100) {
		t.Errorf("Fork shares groups")
	}
	if _, err := u.UseUID(NoID); err != linux.EINVAL {
		t.Errorf("UseUID(-1) = %v, want EINVAL", err)
	}
}
