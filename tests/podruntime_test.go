//go:build linux

package tests

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// podExecArg, as the test binary's first argument, makes it the container
// runtime's last step instead of running tests (see TestMain):
//
//	tests.test pod-exec ROOT UID:GID GROUPS PROGRAM ARGS…
//
// It enters ROOT as the process's root, takes the user, group and
// supplemental groups (comma-separated), which leaves a non-root user no
// capability, sets no_new_privs as allowPrivilegeEscalation: false does,
// installs the RuntimeDefault seccomp filter and execs PROGRAM. A runtime
// does the same in this order, seccomp last, so that nothing the runtime
// itself needs is filtered.
const podExecArg = "pod-exec"

func podExec(args []string) error {
	if len(args) < 4 {
		return fmt.Errorf("usage: %s ROOT UID:GID GROUPS PROGRAM ARGS…", podExecArg)
	}
	root, user, groupList, argv := args[0], args[1], args[2], args[3:]
	uidText, gidText, ok := strings.Cut(user, ":")
	uid, err1 := strconv.Atoi(uidText)
	gid, err2 := strconv.Atoi(gidText)
	if !ok || err1 != nil || err2 != nil {
		return fmt.Errorf("user %q: want UID:GID", user)
	}
	var groups []int
	for _, g := range strings.Split(groupList, ",") {
		n, err := strconv.Atoi(g)
		if err != nil {
			return fmt.Errorf("groups %q: %v", groupList, err)
		}
		groups = append(groups, n)
	}
	if err := syscall.Chroot(root); err != nil {
		return fmt.Errorf("chroot %s: %w", root, err)
	}
	if err := syscall.Chdir("/"); err != nil {
		return err
	}
	// Go applies these to every thread of the process.
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("setgid: %w", err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("setuid: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	filter, err := runtimeDefaultFilter()
	if err != nil {
		return err
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	// TSYNC: the filter goes on every thread of the process, not only the
	// calling one; exec keeps it.
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC,
		uintptr(unsafe.Pointer(&prog))); errno != 0 {
		return fmt.Errorf("seccomp: %w", errno)
	}
	return syscall.Exec(argv[0], argv, os.Environ())
}

// TestRuntimeDefaultFilter runs programs under the pod's runtime step as
// root in the machine's root: what the profile allows works, and what it
// refuses fails as a container's call fails, although root could do it.
func TestRuntimeDefaultFilter(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: the runtime step changes root and user")
	}
	self, err := os.Executable()
	require.NoError(t, err)
	run := func(argv ...string) (string, error) {
		out, err := exec.Command(self, append([]string{podExecArg, "/", "0:0", "0"}, argv...)...).CombinedOutput()
		return string(out), err
	}
	for _, c := range []struct {
		argv    []string
		refused string // "" when the program must succeed
	}{
		{argv: []string{"/bin/sh", "-c", "true & wait"}},                                 // fork is clone without namespaces
		{argv: []string{"/usr/bin/setarch", "x86_64", "true"}},                           // personality(0)
		{argv: []string{"/usr/bin/unshare", "--net", "true"}, refused: "unshare failed"}, // unshare: CAP_SYS_ADMIN's
		{argv: []string{"/usr/bin/setarch", "x86_64", "-R", "true"}, refused: "failed to set personality"},
		{argv: []string{"/bin/sh", "-c", "exec chroot / true"}, refused: "cannot change root"}, // chroot: CAP_SYS_CHROOT's
	} {
		out, err := run(c.argv...)
		if c.refused == "" {
			assert.NoError(t, err, "%v: %s", c.argv, out)
			continue
		}
		assert.Error(t, err, "%v ran under the filter: %s", c.argv, out)
		assert.Contains(t, out, c.refused, c.argv)
		assert.Contains(t, out, "Operation not permitted", c.argv)
	}
	out, err := run("/bin/sh", "-c", "grep -E '^(Seccomp|Seccomp_filters|NoNewPrivs):' /proc/self/status")
	require.NoError(t, err, out)
	assert.Regexp(t, `(?m)^NoNewPrivs:\s+1$`, out)
	assert.Regexp(t, `(?m)^Seccomp:\s+2$`, out, "filter mode")
	assert.Regexp(t, `(?m)^Seccomp_filters:\s+1$`, out)
}

// runtimeDefaultSyscalls are the system calls that the RuntimeDefault
// seccomp profile of containerd allows a container without CAP_SYS_ADMIN on
// amd64 without condition: DefaultProfile in containerd's
// contrib/seccomp/seccomp_default.go (commit 96929a5d3102), the names that
// are amd64 system calls, with ptrace (allowed from Linux 4.8) and
// arch_prctl and modify_ldt (amd64's additions). clone and personality are
// allowed with conditions, in the filter's program; clone3 fails with
// ENOSYS, so that C libraries fall back to clone; everything else fails
// with EPERM.
var runtimeDefaultSyscalls = []uint32{
	unix.SYS_ACCEPT, unix.SYS_ACCEPT4, unix.SYS_ACCESS, unix.SYS_ADJTIMEX, unix.SYS_ALARM,
	unix.SYS_BIND, unix.SYS_BRK, unix.SYS_CAPGET, unix.SYS_CAPSET, unix.SYS_CHDIR, unix.SYS_CHMOD,
	unix.SYS_CHOWN, unix.SYS_CLOCK_ADJTIME, unix.SYS_CLOCK_GETRES, unix.SYS_CLOCK_GETTIME,
	unix.SYS_CLOCK_NANOSLEEP, unix.SYS_CLOSE, unix.SYS_CLOSE_RANGE, unix.SYS_CONNECT,
	unix.SYS_COPY_FILE_RANGE, unix.SYS_CREAT, unix.SYS_DUP, unix.SYS_DUP2, unix.SYS_DUP3,
	unix.SYS_EPOLL_CREATE, unix.SYS_EPOLL_CREATE1, unix.SYS_EPOLL_CTL, unix.SYS_EPOLL_CTL_OLD,
	unix.SYS_EPOLL_PWAIT, unix.SYS_EPOLL_PWAIT2, unix.SYS_EPOLL_WAIT, unix.SYS_EPOLL_WAIT_OLD,
	unix.SYS_EVENTFD, unix.SYS_EVENTFD2, unix.SYS_EXECVE, unix.SYS_EXECVEAT, unix.SYS_EXIT,
	unix.SYS_EXIT_GROUP, unix.SYS_FACCESSAT, unix.SYS_FACCESSAT2, unix.SYS_FADVISE64,
	unix.SYS_FALLOCATE, unix.SYS_FANOTIFY_MARK, unix.SYS_FCHDIR, unix.SYS_FCHMOD, unix.SYS_FCHMODAT,
	unix.SYS_FCHOWN, unix.SYS_FCHOWNAT, unix.SYS_FCNTL, unix.SYS_FDATASYNC, unix.SYS_FGETXATTR,
	unix.SYS_FLISTXATTR, unix.SYS_FLOCK, unix.SYS_FORK, unix.SYS_FREMOVEXATTR, unix.SYS_FSETXATTR,
	unix.SYS_FSTAT, unix.SYS_FSTATFS, unix.SYS_FSYNC, unix.SYS_FTRUNCATE, unix.SYS_FUTEX,
	unix.SYS_FUTEX_WAITV, unix.SYS_FUTIMESAT, unix.SYS_GETCPU, unix.SYS_GETCWD, unix.SYS_GETDENTS,
	unix.SYS_GETDENTS64, unix.SYS_GETEGID, unix.SYS_GETEUID, unix.SYS_GETGID, unix.SYS_GETGROUPS,
	unix.SYS_GETITIMER, unix.SYS_GETPEERNAME, unix.SYS_GETPGID, unix.SYS_GETPGRP, unix.SYS_GETPID,
	unix.SYS_GETPPID, unix.SYS_GETPRIORITY, unix.SYS_GETRANDOM, unix.SYS_GETRESGID, unix.SYS_GETRESUID,
	unix.SYS_GETRLIMIT, unix.SYS_GET_ROBUST_LIST, unix.SYS_GETRUSAGE, unix.SYS_GETSID,
	unix.SYS_GETSOCKNAME, unix.SYS_GETSOCKOPT, unix.SYS_GET_THREAD_AREA, unix.SYS_GETTID,
	unix.SYS_GETTIMEOFDAY, unix.SYS_GETUID, unix.SYS_GETXATTR, unix.SYS_INOTIFY_ADD_WATCH,
	unix.SYS_INOTIFY_INIT, unix.SYS_INOTIFY_INIT1, unix.SYS_INOTIFY_RM_WATCH, unix.SYS_IO_CANCEL,
	unix.SYS_IOCTL, unix.SYS_IO_DESTROY, unix.SYS_IO_GETEVENTS, unix.SYS_IO_PGETEVENTS,
	unix.SYS_IOPRIO_GET, unix.SYS_IOPRIO_SET, unix.SYS_IO_SETUP, unix.SYS_IO_SUBMIT,
	unix.SYS_IO_URING_ENTER, unix.SYS_IO_URING_REGISTER, unix.SYS_IO_URING_SETUP, unix.SYS_KILL,
	unix.SYS_LANDLOCK_ADD_RULE, unix.SYS_LANDLOCK_CREATE_RULESET, unix.SYS_LANDLOCK_RESTRICT_SELF,
	unix.SYS_LCHOWN, unix.SYS_LGETXATTR, unix.SYS_LINK, unix.SYS_LINKAT, unix.SYS_LISTEN,
	unix.SYS_LISTXATTR, unix.SYS_LLISTXATTR, unix.SYS_LREMOVEXATTR, unix.SYS_LSEEK, unix.SYS_LSETXATTR,
	unix.SYS_LSTAT, unix.SYS_MADVISE, unix.SYS_MEMBARRIER, unix.SYS_MEMFD_CREATE,
	unix.SYS_MEMFD_SECRET, unix.SYS_MINCORE, unix.SYS_MKDIR, unix.SYS_MKDIRAT, unix.SYS_MKNOD,
	unix.SYS_MKNODAT, unix.SYS_MLOCK, unix.SYS_MLOCK2, unix.SYS_MLOCKALL, unix.SYS_MMAP,
	unix.SYS_MPROTECT, unix.SYS_MQ_GETSETATTR, unix.SYS_MQ_NOTIFY, unix.SYS_MQ_OPEN,
	unix.SYS_MQ_TIMEDRECEIVE, unix.SYS_MQ_TIMEDSEND, unix.SYS_MQ_UNLINK, unix.SYS_MREMAP,
	unix.SYS_MSGCTL, unix.SYS_MSGGET, unix.SYS_MSGRCV, unix.SYS_MSGSND, unix.SYS_MSYNC,
	unix.SYS_MUNLOCK, unix.SYS_MUNLOCKALL, unix.SYS_MUNMAP, unix.SYS_NANOSLEEP, unix.SYS_NEWFSTATAT,
	unix.SYS_OPEN, unix.SYS_OPENAT, unix.SYS_OPENAT2, unix.SYS_PAUSE, unix.SYS_PIDFD_OPEN,
	unix.SYS_PIDFD_SEND_SIGNAL, unix.SYS_PIPE, unix.SYS_PIPE2, unix.SYS_POLL, unix.SYS_PPOLL,
	unix.SYS_PRCTL, unix.SYS_PREAD64, unix.SYS_PREADV, unix.SYS_PREADV2, unix.SYS_PRLIMIT64,
	unix.SYS_PROCESS_MRELEASE, unix.SYS_PSELECT6, unix.SYS_PWRITE64, unix.SYS_PWRITEV,
	unix.SYS_PWRITEV2, unix.SYS_READ, unix.SYS_READAHEAD, unix.SYS_READLINK, unix.SYS_READLINKAT,
	unix.SYS_READV, unix.SYS_RECVFROM, unix.SYS_RECVMMSG, unix.SYS_RECVMSG, unix.SYS_REMAP_FILE_PAGES,
	unix.SYS_REMOVEXATTR, unix.SYS_RENAME, unix.SYS_RENAMEAT, unix.SYS_RENAMEAT2,
	unix.SYS_RESTART_SYSCALL, unix.SYS_RMDIR, unix.SYS_RSEQ, unix.SYS_RT_SIGACTION,
	unix.SYS_RT_SIGPENDING, unix.SYS_RT_SIGPROCMASK, unix.SYS_RT_SIGQUEUEINFO, unix.SYS_RT_SIGRETURN,
	unix.SYS_RT_SIGSUSPEND, unix.SYS_RT_SIGTIMEDWAIT, unix.SYS_RT_TGSIGQUEUEINFO,
	unix.SYS_SCHED_GETAFFINITY, unix.SYS_SCHED_GETATTR, unix.SYS_SCHED_GETPARAM,
	unix.SYS_SCHED_GET_PRIORITY_MAX, unix.SYS_SCHED_GET_PRIORITY_MIN, unix.SYS_SCHED_GETSCHEDULER,
	unix.SYS_SCHED_RR_GET_INTERVAL, unix.SYS_SCHED_SETAFFINITY, unix.SYS_SCHED_SETATTR,
	unix.SYS_SCHED_SETPARAM, unix.SYS_SCHED_SETSCHEDULER, unix.SYS_SCHED_YIELD, unix.SYS_SECCOMP,
	unix.SYS_SELECT, unix.SYS_SEMCTL, unix.SYS_SEMGET, unix.SYS_SEMOP, unix.SYS_SEMTIMEDOP,
	unix.SYS_SENDFILE, unix.SYS_SENDMMSG, unix.SYS_SENDMSG, unix.SYS_SENDTO, unix.SYS_SETFSGID,
	unix.SYS_SETFSUID, unix.SYS_SETGID, unix.SYS_SETGROUPS, unix.SYS_SETITIMER, unix.SYS_SETPGID,
	unix.SYS_SETPRIORITY, unix.SYS_SETREGID, unix.SYS_SETRESGID, unix.SYS_SETRESUID, unix.SYS_SETREUID,
	unix.SYS_SETRLIMIT, unix.SYS_SET_ROBUST_LIST, unix.SYS_SETSID, unix.SYS_SETSOCKOPT,
	unix.SYS_SET_THREAD_AREA, unix.SYS_SET_TID_ADDRESS, unix.SYS_SETUID, unix.SYS_SETXATTR,
	unix.SYS_SHMAT, unix.SYS_SHMCTL, unix.SYS_SHMDT, unix.SYS_SHMGET, unix.SYS_SHUTDOWN,
	unix.SYS_SIGALTSTACK, unix.SYS_SIGNALFD, unix.SYS_SIGNALFD4, unix.SYS_SOCKET, unix.SYS_SOCKETPAIR,
	unix.SYS_SPLICE, unix.SYS_STAT, unix.SYS_STATFS, unix.SYS_STATX, unix.SYS_SYMLINK,
	unix.SYS_SYMLINKAT, unix.SYS_SYNC, unix.SYS_SYNC_FILE_RANGE, unix.SYS_SYNCFS, unix.SYS_SYSINFO,
	unix.SYS_TEE, unix.SYS_TGKILL, unix.SYS_TIME, unix.SYS_TIMER_CREATE, unix.SYS_TIMER_DELETE,
	unix.SYS_TIMER_GETOVERRUN, unix.SYS_TIMER_GETTIME, unix.SYS_TIMER_SETTIME, unix.SYS_TIMERFD_CREATE,
	unix.SYS_TIMERFD_GETTIME, unix.SYS_TIMERFD_SETTIME, unix.SYS_TIMES, unix.SYS_TKILL,
	unix.SYS_TRUNCATE, unix.SYS_UMASK, unix.SYS_UNAME, unix.SYS_UNLINK, unix.SYS_UNLINKAT,
	unix.SYS_UTIME, unix.SYS_UTIMENSAT, unix.SYS_UTIMES, unix.SYS_VFORK, unix.SYS_VMSPLICE,
	unix.SYS_WAIT4, unix.SYS_WAITID, unix.SYS_WRITE, unix.SYS_WRITEV, unix.SYS_PTRACE,
	unix.SYS_ARCH_PRCTL, unix.SYS_MODIFY_LDT,
}

// The seccomp_data fields a filter reads (linux/seccomp.h).
const (
	seccompNr        = 0
	seccompArch      = 4
	seccompArg0Low   = 16 // args are 64-bit, little-endian on amd64
	seccompArg0High  = 20
	x32SyscallBit    = 0x40000000
	cloneNamespaces  = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP
	seccompDenyEPERM = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
)

// bpfInsn is an instruction of a classic BPF program whose jumps name their
// targets; "" is the next instruction.
type bpfInsn struct {
	label  string // this instruction's, if a jump targets it
	code   uint16
	k      uint32
	jt, jf string
}

func bpfLoad(offset uint32) bpfInsn {
	return bpfInsn{code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, k: offset}
}
func bpfRet(k uint32) bpfInsn { return bpfInsn{code: unix.BPF_RET | unix.BPF_K, k: k} }
func bpfJump(op uint16, k uint32, jt, jf string) bpfInsn {
	return bpfInsn{code: unix.BPF_JMP | op | unix.BPF_K, k: k, jt: jt, jf: jf}
}

// runtimeDefaultFilter is the profile as a seccomp program for amd64. The
// profile also lists the x86 and x32 system call tables, which an amd64 Go
// program does not use; here they are refused.
func runtimeDefaultFilter() ([]unix.SockFilter, error) {
	prog := []bpfInsn{
		bpfLoad(seccompArch),
		bpfJump(unix.BPF_JEQ, unix.AUDIT_ARCH_X86_64, "", "deny"),
		bpfLoad(seccompNr),
		bpfJump(unix.BPF_JGE, x32SyscallBit, "deny", ""),
		bpfJump(unix.BPF_JEQ, unix.SYS_CLONE, "clone", ""),
		bpfJump(unix.BPF_JEQ, unix.SYS_PERSONALITY, "personality", ""),
		bpfJump(unix.BPF_JEQ, unix.SYS_CLONE3, "enosys", ""),
		{code: unix.BPF_JMP | unix.BPF_JA, jt: "list"},
		// clone: not into new namespaces.
		{label: "clone", code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, k: seccompArg0Low},
		bpfJump(unix.BPF_JSET, cloneNamespaces, "deny", "allow"),
		// personality: the five values the profile names.
		{label: "personality", code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, k: seccompArg0High},
		bpfJump(unix.BPF_JEQ, 0, "", "deny"),
		bpfLoad(seccompArg0Low),
		bpfJump(unix.BPF_JEQ, 0x0, "allow", ""),
		bpfJump(unix.BPF_JEQ, 0x8, "allow", ""),
		bpfJump(unix.BPF_JEQ, 0x20000, "allow", ""),
		bpfJump(unix.BPF_JEQ, 0x20008, "allow", ""),
		bpfJump(unix.BPF_JEQ, 0xffffffff, "allow", "deny"),
		{label: "enosys", code: unix.BPF_RET | unix.BPF_K, k: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
		{label: "deny", code: unix.BPF_RET | unix.BPF_K, k: seccompDenyEPERM},
		{label: "allow", code: unix.BPF_RET | unix.BPF_K, k: unix.SECCOMP_RET_ALLOW},
	}
	// The list: each allowed number followed by its own return, since a
	// jump reaches at most 255 instructions ahead.
	for i, nr := range runtimeDefaultSyscalls {
		j := bpfJump(unix.BPF_JEQ, nr, "", "+1")
		if i == 0 {
			j.label = "list"
		}
		prog = append(prog, j, bpfRet(unix.SECCOMP_RET_ALLOW))
	}
	prog = append(prog, bpfRet(seccompDenyEPERM))
	return assembleBPF(prog)
}

// assembleBPF resolves the jumps' labels into offsets; "+1" skips one
// instruction. An unconditional jump (BPF_JA) names its target in jt and
// takes its offset in k, which has no limit of 255.
func assembleBPF(prog []bpfInsn) ([]unix.SockFilter, error) {
	at := map[string]int{}
	for i, in := range prog {
		if in.label != "" {
			at[in.label] = i
		}
	}
	offset := func(i int, target string) (int, error) {
		switch target {
		case "":
			return 0, nil
		case "+1":
			return 1, nil
		}
		to, ok := at[target]
		if !ok || to <= i {
			return 0, fmt.Errorf("instruction %d: no %q ahead", i, target)
		}
		return to - i - 1, nil
	}
	out := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		jt, err := offset(i, in.jt)
		if err != nil {
			return nil, err
		}
		if in.code == unix.BPF_JMP|unix.BPF_JA {
			out[i] = unix.SockFilter{Code: in.code, K: uint32(jt)}
			continue
		}
		jf, err := offset(i, in.jf)
		if err != nil {
			return nil, err
		}
		if jt > 255 || jf > 255 {
			return nil, fmt.Errorf("instruction %d: a jump of more than 255", i)
		}
		out[i] = unix.SockFilter{Code: in.code, Jt: uint8(jt), Jf: uint8(jf), K: in.k}
	}
	return out, nil
}
