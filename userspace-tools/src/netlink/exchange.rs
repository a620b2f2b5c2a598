//! Matching received datagrams to one outstanding request (sans I/O).
//!
//! An [`Exchange`] is fed every datagram received after a request was sent. It keeps the
//! family messages carrying the request's sequence number, skips everything else (other
//! sequence numbers, `NLMSG_NOOP`), and decides when the exchange is over:
//!
//! * [`Mode::Single`] (a doit request sent with `NLM_F_ACK`): the reply message, then the
//!   acknowledgement (`NLMSG_ERROR` with error 0). An acknowledgement without a reply ends the
//!   exchange with no message.
//! * [`Mode::Dump`] (`NLM_F_DUMP`): any number of messages, across any number of datagrams,
//!   until `NLMSG_DONE`. `NLMSG_DONE` carries the dump's error code (0 or a negative errno).
//!
//! In both modes `NLMSG_ERROR` with a negative errno ends the exchange with that error.

use drbd_core::genl::msg::{FrameKind, Frames};

use super::NlError;

/// How an exchange ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// One reply, then an acknowledgement.
    Single,
    /// Messages until `NLMSG_DONE`.
    Dump,
}

/// State of one request's exchange.
#[derive(Debug)]
pub(crate) struct Exchange {
    seq: u32,
    msg_type: u16,
    mode: Mode,
    messages: Vec<Vec<u8>>,
    done: bool,
}

impl Exchange {
    /// An exchange for the request with sequence number `seq`, whose answers are messages of
    /// type `msg_type` (the family id).
    pub(crate) fn new(seq: u32, msg_type: u16, mode: Mode) -> Self {
        Self {
            seq,
            msg_type,
            mode,
            messages: Vec::new(),
            done: false,
        }
    }

    /// Process one received datagram (several netlink messages possibly). Messages after the
    /// one that completed the exchange are ignored.
    pub(crate) fn feed(&mut self, datagram: &[u8]) -> Result<(), NlError> {
        for frame in Frames::new(datagram) {
            if self.done {
                break;
            }
            let frame = frame.map_err(|e| NlError::Malformed(e.to_string()))?;
            if frame.hdr.seq != self.seq {
                continue;
            }
            match frame.kind() {
                FrameKind::Noop => {}
                FrameKind::Error { error: 0, .. } => {
                    // An acknowledgement. Dumps are not acknowledged; ignore a stray one.
                    if self.mode == Mode::Single {
                        self.done = true;
                    }
                }
                FrameKind::Error { error, .. } => return Err(NlError::from_kernel_error(error)),
                FrameKind::Done => {
                    let error = frame
                        .payload
                        .get(..4)
                        .and_then(|b| b.try_into().ok())
                        .map(i32::from_ne_bytes)
                        .unwrap_or(0);
                    if error < 0 {
                        return Err(NlError::from_kernel_error(error));
                    }
                    self.done = true;
                }
                FrameKind::Data => {
                    if frame.hdr.ty != self.msg_type {
                        continue;
                    }
                    // A doit sends one reply; keep the first should another appear.
                    if self.mode == Mode::Dump || self.messages.is_empty() {
                        self.messages.push(frame.bytes.to_vec());
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether the exchange is complete.
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// Whether a message has been received (in single mode: the reply is there, only the
    /// acknowledgement is missing).
    pub(crate) fn has_message(&self) -> bool {
        !self.messages.is_empty()
    }

    /// The received messages (each one whole netlink message, header included), in order.
    pub(crate) fn into_messages(self) -> Vec<Vec<u8>> {
        self.messages
    }
}
