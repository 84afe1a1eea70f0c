//! The agent's system-call filter as safe code: the policy is a table ([`RULES`]), a
//! small classic-BPF assembler with symbolic labels turns it into a program (no
//! hand-counted jump offsets to get wrong), and an interpreter lets unit tests run that
//! program on synthetic calls. Installing it takes `unsafe` and lives in `sys`.
//!
//! It closes doors the container engine's own seccomp profile may leave open: user
//! namespaces (inside one a command holds every capability, the first step of many
//! kernel exploits), setuid/setgid files (the working directory is bind-mounted, so they
//! would appear on the host), the kernel keyring (not namespaced), and io_uring (whose
//! operations, such as OPENAT, never pass through this filter's argument checks).

#![forbid(unsafe_code)]

use std::fmt;

/// `BPF_LD | BPF_W | BPF_ABS` (linux/bpf_common.h): A = the 32-bit word of
/// `seccomp_data` at offset k. The only load seccomp needs.
const LD_W_ABS: u16 = 0x20;
/// `BPF_ALU | BPF_AND | BPF_K`: A &= k, to strip the x32 bit from syscall numbers.
const ALU_AND_K: u16 = 0x54;
/// `BPF_JMP | BPF_JEQ | BPF_K`: branch on A == k (arch and syscall number dispatch).
const JMP_JEQ_K: u16 = 0x15;
/// `BPF_JMP | BPF_JSET | BPF_K`: branch on A & k != 0 (flag and mode bits).
const JMP_JSET_K: u16 = 0x45;
/// `BPF_RET | BPF_K`: the verdict k.
const RET_K: u16 = 0x06;

/// `BPF_MAXINSNS`: the kernel refuses longer classic-BPF programs with EINVAL, which
/// would leave the agent running unfiltered; better to find out at build time.
const MAX_INSNS: usize = 4096;
/// `sizeof(struct seccomp_data)`: loads beyond it are refused by the kernel.
const SECCOMP_DATA_LEN: u32 = 64;
/// Offset of `seccomp_data.nr`.
const NR_OFFSET: u32 = 0;
/// Offset of `seccomp_data.arch`.
const ARCH_OFFSET: u32 = 4;

/// `AUDIT_ARCH_X86_64` (linux/audit.h): 64-bit and x32 calls report this arch.
pub const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
/// `AUDIT_ARCH_I386`: 32-bit calls (int 0x80, a 32-bit binary in the container) report
/// this arch with their own syscall numbers, so they need their own dispatch.
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// `__X32_SYSCALL_BIT`: x32 calls are x86_64 numbers with this bit set (none of the
/// calls filtered here has an x32-only number), so masking it off covers x32.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The low 32 bits of argument `arg` in `seccomp_data.args` (a `u64[6]` at offset 16,
/// little-endian on x86). Only the low word is compared: the kernel truncates the flag
/// and mode arguments filtered here to 32 bits or less (`unshare` refuses high bits), so
/// the high word cannot change what the call does, and libcs need not clear it.
const fn arg_low_offset(arg: u8) -> u32 {
    16 + 8 * arg as u32
}

/// One classic-BPF instruction, laid out like the kernel's `struct sock_filter`, so
/// `sys` hands it over field by field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    /// Opcode (class, size, mode or operation, source).
    pub code: u16,
    /// Instructions to skip when a conditional jump is taken.
    pub jt: u8,
    /// Instructions to skip when it is not.
    pub jf: u8,
    /// The constant operand: load offset, mask, comparison value or return value.
    pub k: u32,
}

/// A position in a program under construction, named before it is known, so forward
/// jumps are written symbolically and the assembler counts the offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(usize);

/// Where one branch of a conditional jump goes: falling through is the common case and
/// needs no label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The next instruction.
    Next,
    /// The instruction bound to the label.
    To(Label),
}

/// Why a program could not be built: each is a mistake in the policy or its code
/// generation that the kernel would otherwise reject at install time (leaving the agent
/// unfiltered) or, worse, accept with jumps landing somewhere unintended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterError {
    /// A jump names a label that was never bound.
    UnboundLabel(Label),
    /// A label was bound at two positions.
    LabelBoundTwice(Label),
    /// A jump at `at` targets itself or an earlier instruction; classic BPF only jumps
    /// forward (which is why every program terminates).
    BackwardJump {
        /// Index of the jump.
        at: usize,
    },
    /// A jump at `at` targets the end of the program instead of an instruction.
    JumpPastEnd {
        /// Index of the jump.
        at: usize,
    },
    /// A jump at `at` skips more instructions than its 8-bit offset can hold.
    JumpTooFar {
        /// Index of the jump.
        at: usize,
        /// Instructions it would skip.
        skip: usize,
    },
    /// A load outside `seccomp_data` or not on a 32-bit boundary.
    BadLoad(u32),
    /// More instructions than the kernel accepts.
    TooLong(usize),
    /// The program does not end in a return, so it could run off its end.
    NoFinalReturn,
    /// Two rules for the same syscall on one arch: dispatch assumes one rule per call
    /// (a failed argument test allows the call instead of trying the next rule).
    DuplicateSyscall {
        /// The arch whose numbers collide.
        arch: &'static str,
        /// The second rule's syscall.
        name: &'static str,
        /// Its number.
        nr: u32,
    },
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FilterError::UnboundLabel(l) => write!(f, "seccomp program: label {} is never bound", l.0),
            FilterError::LabelBoundTwice(l) => write!(f, "seccomp program: label {} is bound twice", l.0),
            FilterError::BackwardJump { at } => write!(f, "seccomp program: jump at {at} goes backwards"),
            FilterError::JumpPastEnd { at } => write!(f, "seccomp program: jump at {at} goes past the end"),
            FilterError::JumpTooFar { at, skip } => {
                write!(f, "seccomp program: jump at {at} skips {skip} instructions (at most 255)")
            }
            FilterError::BadLoad(off) => write!(f, "seccomp program: load at offset {off} is outside seccomp_data"),
            FilterError::TooLong(n) => write!(f, "seccomp program: {n} instructions (at most {MAX_INSNS})"),
            FilterError::NoFinalReturn => write!(f, "seccomp program: does not end in a return"),
            FilterError::DuplicateSyscall { arch, name, nr } => {
                write!(f, "seccomp policy: {name} is the second rule for {arch} syscall {nr}")
            }
        }
    }
}

impl std::error::Error for FilterError {}

/// An instruction whose jump targets are still labels.
struct Pending {
    code: u16,
    k: u32,
    jt: Target,
    jf: Target,
}

/// Builds a classic-BPF program with symbolic jump targets; [`Assembler::finish`]
/// resolves them and checks everything the kernel's verifier would, so a mistake shows
/// up as a [`FilterError`] (and in unit tests) rather than as a refused or wrong filter.
/// Misuse while building (a bad load, a label bound twice) is kept and reported by
/// `finish`, so building code needs no error handling per instruction.
#[derive(Default)]
pub struct Assembler {
    code: Vec<Pending>,
    labels: Vec<Option<usize>>,
    misuse: Option<FilterError>,
}

impl Assembler {
    /// An empty program.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new label, to be bound later with [`Assembler::bind`].
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Binds `label` to the next instruction emitted.
    pub fn bind(&mut self, label: Label) {
        match self.labels.get_mut(label.0) {
            Some(slot @ None) => *slot = Some(self.code.len()),
            _ => self.misused(FilterError::LabelBoundTwice(label)),
        }
    }

    /// A = the 32-bit word of `seccomp_data` at `offset`.
    pub fn load(&mut self, offset: u32) {
        if !offset.is_multiple_of(4) || offset >= SECCOMP_DATA_LEN {
            self.misused(FilterError::BadLoad(offset));
        }
        self.emit(LD_W_ABS, offset, Target::Next, Target::Next);
    }

    /// A &= `mask`.
    pub fn and(&mut self, mask: u32) {
        self.emit(ALU_AND_K, mask, Target::Next, Target::Next);
    }

    /// Goes to `then` if A == `value`, else to `otherwise`.
    pub fn jump_if_eq(&mut self, value: u32, then: Target, otherwise: Target) {
        self.emit(JMP_JEQ_K, value, then, otherwise);
    }

    /// Goes to `then` if A shares a bit with `bits`, else to `otherwise`.
    pub fn jump_if_any(&mut self, bits: u32, then: Target, otherwise: Target) {
        self.emit(JMP_JSET_K, bits, then, otherwise);
    }

    /// Ends the program with the verdict `value` (a `SECCOMP_RET_*`).
    pub fn ret(&mut self, value: u32) {
        self.emit(RET_K, value, Target::Next, Target::Next);
    }

    fn emit(&mut self, code: u16, k: u32, jt: Target, jf: Target) {
        self.code.push(Pending { code, k, jt, jf });
    }

    fn misused(&mut self, e: FilterError) {
        self.misuse.get_or_insert(e);
    }

    /// Resolves labels into offsets and checks the program as the kernel would: at most
    /// 4096 instructions, ending in a return, every jump forward, inside the program
    /// and within 255 instructions.
    pub fn finish(self) -> Result<Vec<Insn>, FilterError> {
        if let Some(e) = self.misuse {
            return Err(e);
        }
        let len = self.code.len();
        if len > MAX_INSNS {
            return Err(FilterError::TooLong(len));
        }
        if self.code.last().is_none_or(|p| p.code != RET_K) {
            return Err(FilterError::NoFinalReturn);
        }
        let offset = |at: usize, target: Target| -> Result<u8, FilterError> {
            let Target::To(label) = target else { return Ok(0) };
            let dest = self.labels.get(label.0).copied().flatten().ok_or(FilterError::UnboundLabel(label))?;
            if dest <= at {
                return Err(FilterError::BackwardJump { at });
            }
            if dest >= len {
                return Err(FilterError::JumpPastEnd { at });
            }
            let skip = dest - at - 1;
            u8::try_from(skip).map_err(|_| FilterError::JumpTooFar { at, skip })
        };
        self.code
            .iter()
            .enumerate()
            .map(|(at, p)| Ok(Insn { code: p.code, jt: offset(at, p.jt)?, jf: offset(at, p.jf)?, k: p.k }))
            .collect()
    }
}

/// What the filter tells the kernel to do with a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Run the call.
    Allow,
    /// Fail the call with this errno without running it.
    Errno(i32),
    /// Kill the whole process: for calls from an arch the policy does not know, whose
    /// numbers mean something else.
    KillProcess,
}

impl Verdict {
    /// The `SECCOMP_RET_*` value a program returns for this verdict.
    pub const fn encode(self) -> u32 {
        match self {
            Verdict::Allow => libc::SECCOMP_RET_ALLOW,
            Verdict::Errno(e) => libc::SECCOMP_RET_ERRNO | (e as u32 & libc::SECCOMP_RET_DATA),
            Verdict::KillProcess => libc::SECCOMP_RET_KILL_PROCESS,
        }
    }
}

/// A test on one syscall argument: true when its low 32 bits share a bit with
/// `any_of`. A rule holds when all its tests do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgHasAny {
    /// Argument index, 0 to 5.
    pub arg: u8,
    /// The bits looked for.
    pub any_of: u32,
}

/// One refused use of one syscall, with its number on each arch the filter covers (x32
/// uses the x86_64 numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The syscall's name, for errors and tests.
    pub name: &'static str,
    /// Its number on x86_64 (and, with the x32 bit, on x32).
    pub x86_64: u32,
    /// Its number on i386.
    pub i386: u32,
    /// When it is refused: every test must hold; none means always.
    pub when: &'static [ArgHasAny],
    /// The errno it then fails with: EPERM for a refused use, ENOSYS for calls that are
    /// refused outright, which callers treat as an old kernel and fall back from.
    pub errno: i32,
}

/// The setuid and setgid bits: a file carrying one runs with its owner's or group's
/// rights, and since the working directory is bind-mounted, such a file made in the
/// session would appear on the host. The sticky bit is harmless and stays allowed.
const SET_ID_BITS: u32 = libc::S_ISUID | libc::S_ISGID;
/// `__O_TMPFILE`, alone: `O_TMPFILE` also contains `O_DIRECTORY`, which alone is an
/// ordinary open of a directory and creates nothing.
const O_TMPFILE_BIT: u32 = 0o20000000;
/// The open flags that make the call create a file, i.e. that make its mode argument
/// meaningful. Without them the mode is whatever was in the register, which libcs
/// need not clear, so it must not cause a refusal.
const CREATES: u32 = libc::O_CREAT as u32 | O_TMPFILE_BIT;
/// `CLONE_NEWUSER`.
const NEWUSER: u32 = libc::CLONE_NEWUSER as u32;
/// `EPERM`: the call is understood and refused.
const EPERM: i32 = libc::EPERM;
/// `ENOSYS`: the call seems not to exist, so libcs and runtimes fall back to an older
/// call (`clone3` to `clone`, `openat2` to `openat`) or do without (io_uring, keyring).
const ENOSYS: i32 = libc::ENOSYS;

/// A rule that refuses a syscall outright.
const fn always(name: &'static str, x86_64: u32, i386: u32, errno: i32) -> Rule {
    Rule { name, x86_64, i386, when: &[], errno }
}

/// A rule that refuses a syscall with EPERM when every argument test holds.
const fn when(name: &'static str, x86_64: u32, i386: u32, when: &'static [ArgHasAny]) -> Rule {
    Rule { name, x86_64, i386, when, errno: EPERM }
}

/// A test that argument `arg` has one of `any_of`.
const fn arg(arg: u8, any_of: u32) -> ArgHasAny {
    ArgHasAny { arg, any_of }
}

/// The policy. Numbers are from the kernel's syscall_64.tbl and syscall_32.tbl; calls
/// added since Linux 5.1 (424 on) share one number on every arch but alpha.
pub const RULES: &[Rule] = &[
    // User namespaces. clone3's flags are behind a pointer a filter cannot read.
    always("clone3", 435, 435, ENOSYS),
    when("unshare", 272, 310, &[arg(0, NEWUSER)]),
    when("clone", 56, 120, &[arg(0, NEWUSER)]),
    // The kernel keyring: shared kernel state with a history of exploitable bugs, and
    // nothing in a session needs it.
    always("keyctl", 250, 288, ENOSYS),
    always("add_key", 248, 286, ENOSYS),
    always("request_key", 249, 287, ENOSYS),
    // io_uring: its operations (OPENAT, ...) do not pass through this filter.
    always("io_uring_setup", 425, 425, ENOSYS),
    always("io_uring_enter", 426, 426, ENOSYS),
    always("io_uring_register", 427, 427, ENOSYS),
    // Setuid and setgid files. openat2's mode is behind a pointer.
    always("openat2", 437, 437, ENOSYS),
    when("chmod", 90, 15, &[arg(1, SET_ID_BITS)]),
    when("fchmod", 91, 94, &[arg(1, SET_ID_BITS)]),
    when("fchmodat", 268, 306, &[arg(2, SET_ID_BITS)]),
    when("fchmodat2", 452, 452, &[arg(2, SET_ID_BITS)]),
    when("mknod", 133, 14, &[arg(1, SET_ID_BITS)]),
    when("mknodat", 259, 297, &[arg(2, SET_ID_BITS)]),
    when("creat", 85, 8, &[arg(1, SET_ID_BITS)]),
    when("open", 2, 5, &[arg(1, CREATES), arg(2, SET_ID_BITS)]),
    when("openat", 257, 295, &[arg(2, CREATES), arg(3, SET_ID_BITS)]),
];

/// The agent's filter, built from [`RULES`].
pub fn program() -> Result<Vec<Insn>, FilterError> {
    build(RULES)
}

/// Dispatches on the arch first (a syscall number means nothing without it): x86_64
/// (and x32, whose bit is masked off), then i386, and kills anything else.
fn build(rules: &[Rule]) -> Result<Vec<Insn>, FilterError> {
    let mut a = Assembler::new();
    let not_x86_64 = a.label();
    let unknown_arch = a.label();
    a.load(ARCH_OFFSET);
    a.jump_if_eq(AUDIT_ARCH_X86_64, Target::Next, Target::To(not_x86_64));
    a.load(NR_OFFSET);
    a.and(!X32_SYSCALL_BIT);
    dispatch(&mut a, rules, "x86_64", |r| r.x86_64)?;
    a.bind(not_x86_64);
    a.jump_if_eq(AUDIT_ARCH_I386, Target::Next, Target::To(unknown_arch));
    a.load(NR_OFFSET);
    dispatch(&mut a, rules, "i386", |r| r.i386)?;
    a.bind(unknown_arch);
    a.ret(Verdict::KillProcess.encode());
    a.finish()
}

/// With the syscall number in A: one comparison per rule, then the rule's argument
/// tests, each of which allows the call when it fails (A no longer holds the number, so
/// dispatch cannot go on; hence one rule per syscall).
fn dispatch(
    a: &mut Assembler,
    rules: &[Rule],
    arch: &'static str,
    nr: impl Fn(&Rule) -> u32,
) -> Result<(), FilterError> {
    let mut seen = std::collections::BTreeSet::new();
    let allow = a.label();
    for rule in rules {
        if !seen.insert(nr(rule)) {
            return Err(FilterError::DuplicateSyscall { arch, name: rule.name, nr: nr(rule) });
        }
        let next_rule = a.label();
        a.jump_if_eq(nr(rule), Target::Next, Target::To(next_rule));
        for test in rule.when {
            a.load(arg_low_offset(test.arg));
            a.jump_if_any(test.any_of, Target::Next, Target::To(allow));
        }
        a.ret(Verdict::Errno(rule.errno).encode());
        a.bind(next_rule);
    }
    a.bind(allow);
    a.ret(Verdict::Allow.encode());
    Ok(())
}

/// A synthetic `struct seccomp_data`, the input of [`evaluate`].
#[cfg(test)]
#[derive(Clone, Copy, Debug)]
pub struct SeccompData {
    /// Syscall number, as the arch numbers it.
    pub nr: u32,
    /// `AUDIT_ARCH_*`.
    pub arch: u32,
    /// The six arguments, full width.
    pub args: [u64; 6],
}

#[cfg(test)]
impl SeccompData {
    /// The struct's bytes as the kernel lays them out on x86 (little-endian; the
    /// instruction pointer at 8 is left 0).
    fn bytes(&self) -> [u8; SECCOMP_DATA_LEN as usize] {
        let mut b = [0u8; SECCOMP_DATA_LEN as usize];
        b[0..4].copy_from_slice(&self.nr.to_le_bytes());
        b[4..8].copy_from_slice(&self.arch.to_le_bytes());
        for (i, a) in self.args.iter().enumerate() {
            b[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        b
    }
}

/// Runs `program` on `data` as the kernel would, supporting exactly the instructions
/// [`Assembler`] emits, so unit tests can check the policy's verdict on any call without
/// installing anything. Returns the program's `SECCOMP_RET_*` value.
#[cfg(test)]
pub fn evaluate(program: &[Insn], data: &SeccompData) -> Result<u32, String> {
    let bytes = data.bytes();
    let mut acc = 0u32;
    let mut pc = 0usize;
    loop {
        let insn = program.get(pc).ok_or_else(|| format!("ran off the end at {pc}"))?;
        pc += 1;
        let jump = |taken: bool| usize::from(if taken { insn.jt } else { insn.jf });
        match insn.code {
            LD_W_ABS => {
                let at = insn.k as usize;
                let word =
                    bytes.get(at..at + 4).filter(|_| at.is_multiple_of(4)).ok_or_else(|| format!("bad load {at}"))?;
                acc = u32::from_le_bytes(word.try_into().map_err(|_| format!("bad load {at}"))?);
            }
            ALU_AND_K => acc &= insn.k,
            JMP_JEQ_K => pc += jump(acc == insn.k),
            JMP_JSET_K => pc += jump(acc & insn.k != 0),
            RET_K => return Ok(insn.k),
            code => return Err(format!("unsupported opcode {code:#x} at {}", pc - 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const X32: u32 = X32_SYSCALL_BIT;
    const O_RDONLY: u64 = 0;
    const O_WRONLY: u64 = 0o1;
    const O_CREAT: u64 = 0o100;
    const O_TMPFILE: u64 = 0o20200000;
    const O_DIRECTORY: u64 = 0o200000;
    const NEWUSER: u64 = 0x1000_0000;

    fn verdict(arch: u32, nr: u32, args: [u64; 6]) -> Verdict {
        let program = program().expect("the policy assembles");
        let ret = evaluate(&program, &SeccompData { nr, arch, args }).expect("the program runs");
        match ret & libc::SECCOMP_RET_ACTION_FULL {
            libc::SECCOMP_RET_ALLOW => Verdict::Allow,
            libc::SECCOMP_RET_ERRNO => Verdict::Errno((ret & libc::SECCOMP_RET_DATA) as i32),
            libc::SECCOMP_RET_KILL_PROCESS => Verdict::KillProcess,
            other => panic!("unexpected action {other:#x}"),
        }
    }

    fn args(a: &[u64]) -> [u64; 6] {
        let mut out = [0; 6];
        out[..a.len()].copy_from_slice(a);
        out
    }

    const ALLOW: Verdict = Verdict::Allow;
    const PERM: Verdict = Verdict::Errno(libc::EPERM);
    const NOSYS: Verdict = Verdict::Errno(libc::ENOSYS);

    /// (what, x86_64 number, i386 number, arguments, verdict): each checked on x86_64,
    /// x32 and i386.
    const CASES: &[(&str, u32, u32, &[u64], Verdict)] = &[
        ("clone3", 435, 435, &[], NOSYS),
        ("unshare NEWUSER", 272, 310, &[NEWUSER], PERM),
        ("unshare NEWUSER|NEWNS", 272, 310, &[NEWUSER | 0x0002_0000], PERM),
        ("unshare NEWNS", 272, 310, &[0x0002_0000], ALLOW),
        ("clone NEWUSER", 56, 120, &[NEWUSER | 17], PERM),
        ("clone (fork)", 56, 120, &[17], ALLOW),
        ("clone (thread)", 56, 120, &[0x003d_0f00], ALLOW),
        ("clone NEWUSER in the high word", 56, 120, &[NEWUSER << 32 | 17], ALLOW),
        ("keyctl", 250, 288, &[0, 0xffff_fffd], NOSYS),
        ("add_key", 248, 286, &[], NOSYS),
        ("request_key", 249, 287, &[], NOSYS),
        ("io_uring_setup", 425, 425, &[1, 0], NOSYS),
        ("io_uring_enter", 426, 426, &[], NOSYS),
        ("io_uring_register", 427, 427, &[], NOSYS),
        ("openat2", 437, 437, &[], NOSYS),
        ("chmod 0755", 90, 15, &[0, 0o755], ALLOW),
        ("chmod 04755", 90, 15, &[0, 0o4755], PERM),
        ("chmod 02755", 90, 15, &[0, 0o2755], PERM),
        ("chmod 06755", 90, 15, &[0, 0o6755], PERM),
        ("chmod 01777 (sticky)", 90, 15, &[0, 0o1777], ALLOW),
        ("chmod 0644, high word set", 90, 15, &[0, 0xffff_ffff_0000_0000 | 0o644], ALLOW),
        ("chmod 04755 in the high word only", 90, 15, &[0, 0o4755 << 32 | 0o755], ALLOW),
        ("chmod 04755, high word set", 90, 15, &[0, 0xffff_ffff_0000_0000 | 0o4755], PERM),
        ("chmod with setuid in the path argument", 90, 15, &[0o4755, 0o644], ALLOW),
        ("fchmod 0644", 91, 94, &[3, 0o644], ALLOW),
        ("fchmod 04755", 91, 94, &[3, 0o4755], PERM),
        ("fchmodat 0755", 268, 306, &[0, 0, 0o755], ALLOW),
        ("fchmodat 02775", 268, 306, &[0, 0, 0o2775], PERM),
        ("fchmodat2 0755", 452, 452, &[0, 0, 0o755, 0], ALLOW),
        ("fchmodat2 04755", 452, 452, &[0, 0, 0o4755, 0], PERM),
        ("mknod S_IFREG|0644", 133, 14, &[0, 0o100644, 0], ALLOW),
        ("mknod S_IFREG|04755", 133, 14, &[0, 0o104755, 0], PERM),
        ("mknod S_IFIFO|0666", 133, 14, &[0, 0o010666, 0], ALLOW),
        ("mknodat S_IFREG|04755", 259, 297, &[0, 0, 0o104755, 0], PERM),
        ("mknodat S_IFREG|02644", 259, 297, &[0, 0, 0o102644, 0], PERM),
        ("mknodat S_IFREG|0644", 259, 297, &[0, 0, 0o100644, 0], ALLOW),
        ("creat 0644", 85, 8, &[0, 0o644], ALLOW),
        ("creat 04755", 85, 8, &[0, 0o4755], PERM),
        ("open O_RDONLY, garbage mode 04755", 2, 5, &[0, O_RDONLY, 0o4755], ALLOW),
        ("open O_DIRECTORY, garbage mode 06777", 2, 5, &[0, O_DIRECTORY, 0o6777], ALLOW),
        ("open O_CREAT|O_WRONLY 0644", 2, 5, &[0, O_CREAT | O_WRONLY, 0o644], ALLOW),
        ("open O_CREAT|O_WRONLY 04755", 2, 5, &[0, O_CREAT | O_WRONLY, 0o4755], PERM),
        ("open O_TMPFILE 02755", 2, 5, &[0, O_TMPFILE | O_WRONLY, 0o2755], PERM),
        ("open O_TMPFILE 0600", 2, 5, &[0, O_TMPFILE | O_WRONLY, 0o600], ALLOW),
        ("openat O_RDONLY, garbage mode 04755", 257, 295, &[0, 0, O_RDONLY, 0o4755], ALLOW),
        ("openat O_CREAT|O_WRONLY 0644", 257, 295, &[0, 0, O_CREAT | O_WRONLY, 0o644], ALLOW),
        ("openat O_CREAT|O_WRONLY 04755", 257, 295, &[0, 0, O_CREAT | O_WRONLY, 0o4755], PERM),
        ("openat O_TMPFILE 06700", 257, 295, &[0, 0, O_TMPFILE | O_WRONLY, 0o6700], PERM),
        ("openat O_CREAT in the high word, 04755", 257, 295, &[0, 0, O_CREAT << 32, 0o4755], ALLOW),
        ("read", 0, 3, &[0, 0, 0], ALLOW),
        ("write", 1, 4, &[1, 0, 0o4755], ALLOW),
        ("getpid", 39, 20, &[], ALLOW),
        ("execve", 59, 11, &[], ALLOW),
    ];

    #[test]
    fn every_rule_and_its_neighbours_get_their_verdict_on_x86_64_x32_and_i386() {
        for &(what, x86_64, i386, a, expected) in CASES {
            let a = args(a);
            assert_eq!(verdict(AUDIT_ARCH_X86_64, x86_64, a), expected, "x86_64 {what}");
            assert_eq!(verdict(AUDIT_ARCH_X86_64, x86_64 | X32, a), expected, "x32 {what}");
            assert_eq!(verdict(AUDIT_ARCH_I386, i386, a), expected, "i386 {what}");
        }
    }

    #[test]
    fn each_rule_refuses_with_its_errno_on_both_arches_when_its_tests_hold() {
        for rule in RULES {
            let mut a = [0u64; 6];
            for t in rule.when {
                a[usize::from(t.arg)] |= u64::from(t.any_of);
            }
            let refused = Verdict::Errno(rule.errno);
            assert_eq!(verdict(AUDIT_ARCH_X86_64, rule.x86_64, a), refused, "x86_64 {}", rule.name);
            assert_eq!(verdict(AUDIT_ARCH_X86_64, rule.x86_64 | X32, a), refused, "x32 {}", rule.name);
            assert_eq!(verdict(AUDIT_ARCH_I386, rule.i386, a), refused, "i386 {}", rule.name);
            if !rule.when.is_empty() {
                let none = [0u64; 6];
                assert_eq!(verdict(AUDIT_ARCH_X86_64, rule.x86_64, none), ALLOW, "x86_64 {} plain", rule.name);
                assert_eq!(verdict(AUDIT_ARCH_I386, rule.i386, none), ALLOW, "i386 {} plain", rule.name);
            }
        }
    }

    #[test]
    fn a_number_is_judged_by_its_own_arch_table() {
        // i386 chmod (15) is x86_64 rt_sigreturn; x86_64 chmod (90) is i386 select.
        assert_eq!(verdict(AUDIT_ARCH_X86_64, 15, args(&[0, 0o4755])), ALLOW);
        assert_eq!(verdict(AUDIT_ARCH_I386, 90, args(&[0, 0o4755])), ALLOW);
        // x86_64 unshare (272) is i386 fadvise64_64; i386 unshare (310) is x86_64 process_vm_readv.
        assert_eq!(verdict(AUDIT_ARCH_I386, 272, args(&[NEWUSER])), ALLOW);
        assert_eq!(verdict(AUDIT_ARCH_X86_64, 310, args(&[NEWUSER])), ALLOW);
        // The x32 bit is masked only for x86_64: on i386 it makes a different number.
        assert_eq!(verdict(AUDIT_ARCH_I386, 15 | X32, args(&[0, 0o4755])), ALLOW);
    }

    #[test]
    fn unknown_arches_are_killed() {
        const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;
        // x86_64 without __AUDIT_ARCH_LE: one bit away from an arch the filter knows.
        const NEAR_X86_64: u32 = AUDIT_ARCH_X86_64 & !0x4000_0000;
        for arch in [AUDIT_ARCH_AARCH64, NEAR_X86_64, 0] {
            assert_eq!(verdict(arch, 39, args(&[])), Verdict::KillProcess, "arch {arch:#x}");
            assert_eq!(verdict(arch, 90, args(&[0, 0o755])), Verdict::KillProcess, "arch {arch:#x}");
        }
    }

    #[test]
    fn the_policy_has_one_rule_per_syscall_and_fits_the_kernel_limits() {
        let program = program().expect("the policy assembles");
        assert!(program.len() <= MAX_INSNS);
        assert_eq!(program.last().map(|i| i.code), Some(RET_K));
        let mut names: Vec<_> = RULES.iter().map(|r| r.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RULES.len());
    }

    #[test]
    fn opcodes_match_the_kernel_headers() {
        assert_eq!(u32::from(LD_W_ABS), libc::BPF_LD | libc::BPF_W | libc::BPF_ABS);
        assert_eq!(u32::from(ALU_AND_K), libc::BPF_ALU | libc::BPF_AND | libc::BPF_K);
        assert_eq!(u32::from(JMP_JEQ_K), libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K);
        assert_eq!(u32::from(JMP_JSET_K), libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K);
        assert_eq!(u32::from(RET_K), libc::BPF_RET | libc::BPF_K);
        assert_eq!(MAX_INSNS, libc::BPF_MAXINSNS as usize);
        assert_eq!(SECCOMP_DATA_LEN as usize, std::mem::size_of::<libc::seccomp_data>());
        assert_eq!(CREATES, (libc::O_CREAT | (libc::O_TMPFILE & !libc::O_DIRECTORY)) as u32);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn x86_64_syscall_numbers_match_libc() {
        // libc has only the target's numbers: the i386 column was checked against the
        // kernel's syscall_32.tbl (unistd_32.h) by hand.
        for rule in RULES {
            let libc_nr = match rule.name {
                "clone3" => libc::SYS_clone3,
                "unshare" => libc::SYS_unshare,
                "clone" => libc::SYS_clone,
                "keyctl" => libc::SYS_keyctl,
                "add_key" => libc::SYS_add_key,
                "request_key" => libc::SYS_request_key,
                "io_uring_setup" => libc::SYS_io_uring_setup,
                "io_uring_enter" => libc::SYS_io_uring_enter,
                "io_uring_register" => libc::SYS_io_uring_register,
                "openat2" => libc::SYS_openat2,
                "chmod" => libc::SYS_chmod,
                "fchmod" => libc::SYS_fchmod,
                "fchmodat" => libc::SYS_fchmodat,
                "fchmodat2" => libc::SYS_fchmodat2,
                "mknod" => libc::SYS_mknod,
                "mknodat" => libc::SYS_mknodat,
                "creat" => libc::SYS_creat,
                "open" => libc::SYS_open,
                "openat" => libc::SYS_openat,
                other => panic!("no libc number for {other}"),
            };
            assert_eq!(i64::from(rule.x86_64), libc_nr, "{}", rule.name);
        }
    }

    fn assemble(f: impl FnOnce(&mut Assembler)) -> Result<Vec<Insn>, FilterError> {
        let mut a = Assembler::new();
        f(&mut a);
        a.finish()
    }

    #[test]
    fn the_assembler_counts_jump_offsets_from_labels() {
        let program = assemble(|a| {
            let yes = a.label();
            let no = a.label();
            a.load(NR_OFFSET);
            a.jump_if_eq(7, Target::To(yes), Target::Next);
            a.jump_if_any(1, Target::Next, Target::To(no));
            a.ret(1);
            a.bind(yes);
            a.ret(2);
            a.bind(no);
            a.ret(3);
        })
        .expect("assembles");
        assert_eq!(program[1], Insn { code: JMP_JEQ_K, jt: 2, jf: 0, k: 7 });
        assert_eq!(program[2], Insn { code: JMP_JSET_K, jt: 0, jf: 2, k: 1 });
        let run = |nr| evaluate(&program, &SeccompData { nr, arch: 0, args: [0; 6] });
        assert_eq!(run(7), Ok(2));
        assert_eq!(run(1), Ok(1));
        assert_eq!(run(2), Ok(3));
    }

    #[test]
    fn the_assembler_refuses_jumps_it_cannot_encode() {
        let far = assemble(|a| {
            let end = a.label();
            a.load(NR_OFFSET);
            a.jump_if_eq(0, Target::Next, Target::To(end));
            for _ in 0..256 {
                a.and(1);
            }
            a.bind(end);
            a.ret(0);
        });
        assert_eq!(far, Err(FilterError::JumpTooFar { at: 1, skip: 256 }));
        let just_fits = assemble(|a| {
            let end = a.label();
            a.load(NR_OFFSET);
            a.jump_if_eq(0, Target::Next, Target::To(end));
            for _ in 0..255 {
                a.and(1);
            }
            a.bind(end);
            a.ret(0);
        });
        assert_eq!(just_fits.map(|p| p[1].jf), Ok(255));
        let backward = assemble(|a| {
            let top = a.label();
            a.bind(top);
            a.load(NR_OFFSET);
            a.jump_if_eq(0, Target::To(top), Target::Next);
            a.ret(0);
        });
        assert_eq!(backward, Err(FilterError::BackwardJump { at: 1 }));
        let past_end = assemble(|a| {
            let end = a.label();
            a.jump_if_eq(0, Target::Next, Target::To(end));
            a.ret(0);
            a.bind(end);
        });
        assert_eq!(past_end, Err(FilterError::JumpPastEnd { at: 0 }));
        let unbound = assemble(|a| {
            let nowhere = a.label();
            a.jump_if_eq(0, Target::To(nowhere), Target::Next);
            a.ret(0);
        });
        assert_eq!(unbound, Err(FilterError::UnboundLabel(Label(0))));
        let twice = assemble(|a| {
            let l = a.label();
            a.bind(l);
            a.ret(0);
            a.bind(l);
            a.ret(0);
        });
        assert_eq!(twice, Err(FilterError::LabelBoundTwice(Label(0))));
    }

    #[test]
    fn the_assembler_refuses_programs_the_kernel_would() {
        let too_long = assemble(|a| {
            for _ in 0..MAX_INSNS {
                a.and(1);
            }
            a.ret(0);
        });
        assert_eq!(too_long, Err(FilterError::TooLong(MAX_INSNS + 1)));
        let longest = assemble(|a| {
            for _ in 1..MAX_INSNS {
                a.and(1);
            }
            a.ret(0);
        });
        assert_eq!(longest.map(|p| p.len()), Ok(MAX_INSNS));
        assert_eq!(assemble(|_| {}), Err(FilterError::NoFinalReturn));
        assert_eq!(assemble(|a| a.load(NR_OFFSET)), Err(FilterError::NoFinalReturn));
        for bad in [2, 64, 68] {
            let r = assemble(|a| {
                a.load(bad);
                a.ret(0);
            });
            assert_eq!(r, Err(FilterError::BadLoad(bad)));
        }
        assert_eq!(
            assemble(|a| {
                a.load(arg_low_offset(5));
                a.ret(0);
            })
            .map(|p| p[0].k),
            Ok(56)
        );
    }

    #[test]
    fn two_rules_for_one_syscall_are_refused() {
        const TWICE: &[Rule] = &[always("keyctl", 250, 288, ENOSYS), when("keyctl", 250, 288, &[arg(0, 1)])];
        assert_eq!(build(TWICE), Err(FilterError::DuplicateSyscall { arch: "x86_64", name: "keyctl", nr: 250 }));
        const SAME_I386: &[Rule] = &[always("a", 1, 5, ENOSYS), always("b", 2, 5, ENOSYS)];
        assert_eq!(build(SAME_I386), Err(FilterError::DuplicateSyscall { arch: "i386", name: "b", nr: 5 }));
    }
}
