//! The engine probe: `HostInfo::from_podman_info` over hostile `podman info --format
//! json` output and any host readings. Never a panic, only `Protocol` errors, and the
//! flags it chooses follow from the facts: an OCI runtime override only on hybrid
//! cgroups, explicit rlimits only rootful and never above the host's hard limits,
//! limits enforceable exactly when no reason says otherwise.
//!
//! Input: 33 bytes of readings (see `Readings`; integers little endian, booleans in
//! the low bit of a byte), then the command's stdout.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use sandbox_core::{CgroupMode, ErrorKind, HostInfo, HostReadings, parse_version};

/// Mirrors `HostReadings` field by field (it does not derive `Arbitrary`).
#[derive(Debug, Arbitrary)]
struct Readings {
    unified_mounted: bool,
    cap_sys_resource: bool,
    runc_available: bool,
    hard_nofile: u64,
    hard_nproc: u64,
    pid_max: u64,
    unprivileged_port_start: u16,
    uid: u32,
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(r) = Readings::arbitrary(&mut u) else { return };
    let json = u.take_rest();
    let readings = HostReadings {
        unified_mounted: r.unified_mounted,
        cap_sys_resource: r.cap_sys_resource,
        hard_nofile: r.hard_nofile,
        hard_nproc: r.hard_nproc,
        pid_max: r.pid_max,
        runc_available: r.runc_available,
        unprivileged_port_start: r.unprivileged_port_start,
        uid: r.uid,
    };
    let _ = parse_version(&String::from_utf8_lossy(json));
    let info = match HostInfo::from_podman_info("podman", json, &readings) {
        Ok(info) => info,
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
            assert!(e.to_string().contains("podman info"), "the error does not say what failed: {e}");
            return;
        }
    };
    let _ = parse_version(&info.version);
    assert_eq!((info.uid, info.unprivileged_port_start), (r.uid, r.unprivileged_port_start));
    assert_eq!(info.limits_enforceable, info.limits_reason.is_none());
    if info.runtime_override.is_some() {
        assert_eq!(info.cgroup_mode, CgroupMode::Hybrid, "runtime override off hybrid cgroups");
        assert!(r.runc_available, "runc chosen but not available");
    }
    if info.cgroup_mode == CgroupMode::Hybrid {
        assert!(r.unified_mounted);
    }
    if let Some(u) = info.ulimits {
        assert!(!info.rootless, "explicit rlimits for rootless podman");
        assert!(!r.cap_sys_resource, "explicit rlimits although podman may raise them");
        assert!(u.nofile <= r.hard_nofile && u.nofile <= 1 << 20, "nofile {} above the hard limit", u.nofile);
        assert!(u.nproc <= r.hard_nproc && u.nproc <= r.pid_max, "nproc {} above the hard limit", u.nproc);
    }
    assert!(!info.runtime().is_empty() || info.default_runtime.is_empty());
});
