// SPDX-License-Identifier: GPL-2.0
//! The genl codec and the activity-log CRC in kernel context: the module parses untrusted
//! netlink input with this code, built with the kernel's flags (overflow checks included), so
//! garbage must come back as errors here too.

use kernel::prelude::*;

use crate::drbd_core::activity_log::{encode_initialized_slot, INITIALIZED_SLOT_CRC};
use crate::drbd_core::crc32c::crc32c;
use crate::drbd_core::genl::build::{build_request, RequestHeader};
use crate::drbd_core::genl::commands::Command;
use crate::drbd_core::genl::request::validate_request;
use crate::drbd_core::genl::typed::SetRoleParms;

fn primary_force_request_round_trip() {
    let mut buf = [0u8; 256];
    let parms = SetRoleParms {
        assume_uptodate: Some(true),
    };
    let header = RequestHeader {
        family: 25,
        cmd: Command::Primary,
        minor: 3,
        set_defaults: false,
        nl_flags: 0,
        seq: 7,
        pid: 0,
    };
    let len = build_request(&mut buf, &header, &[&parms]);
    check!(len.is_ok());
    let Ok(len) = len else { return };
    let req = validate_request(&buf[..len], false);
    check!(req.is_ok());
    if let Ok(req) = req {
        check_eq!(req.minor(), 3);
        check!(req.get::<SetRoleParms>().and_then(|p| p.assume_uptodate) == Some(true));
    }
}

/// A small deterministic generator (xorshift64*), so a failure replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn garbage_requests_are_errors_not_panics() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let Ok(mut buf) = KBox::new([0u8; 512], GFP_KERNEL) else {
        check!(false);
        return;
    };
    let mut accepted = 0u32;
    for _ in 0..3000 {
        let len = (rng.next() % 512) as usize;
        for b in buf[..len].iter_mut() {
            *b = rng.next() as u8;
        }
        // Plausible headers now and then, so the attribute parser is reached.
        if len >= 28 && rng.next() % 2 == 0 {
            buf[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
            buf[16] = [2u8, 5, 7, 12, 13, 14, 27][(rng.next() % 7) as usize];
            buf[17] = 1;
        }
        if validate_request(&buf[..len], false).is_ok() {
            accepted += 1;
        }
    }
    // Random bytes almost never form a valid request; the point is that none panicked.
    check!(accepted < 3000);
}

fn crc32c_and_initialized_al_slot() {
    check_eq!(crc32c(b"123456789"), 0xe306_9283);
    let Ok(mut slot) = KBox::new([0u8; 4096], GFP_KERNEL) else {
        check!(false);
        return;
    };
    encode_initialized_slot(&mut slot);
    // The CRC field (offset 8, big-endian) holds what drbdmeta writes.
    check_eq!(
        u32::from_be_bytes([slot[8], slot[9], slot[10], slot[11]]),
        INITIALIZED_SLOT_CRC
    );
}

kunit_suite!(
    GENL_SUITE,
    "drbd_rs_core_genl_al",
    [
        primary_force_request_round_trip,
        garbage_requests_are_errors_not_panics,
        crc32c_and_initialized_al_slot
    ]
);
