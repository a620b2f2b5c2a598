// SPDX-License-Identifier: GPL-2.0
//! Data buffers of replication I/O: the bytes of one request (at most a bio's worth, 1 MiB)
//! on their way between the upper bio, the TCP sockets and the lower device.
//!
//! A [`PageBuf`] is backed by whole pages, one order-0 allocation each, so that a large
//! buffer never needs a high-order allocation that may fail under fragmentation. Its pages
//! go to the network stack as a bvec array ([`PageBuf::ranges`]) and to a lower device's bio
//! ([`LowerDevice::submit_buf`](super::block::LowerDevice::submit_buf)) without copying.

use core::marker::PhantomData;

use kernel::bindings;
use kernel::error::code::{EINVAL, EIO};
use kernel::page::{Page, PAGE_SIZE};
use kernel::prelude::*;

use super::block::Bio;
use super::ffi;
use super::socket::{PageRange, PageRangeMut};

/// Largest buffer: DRBD's largest bio (`DRBD_MAX_BIO_SIZE`, 1 MiB).
pub(crate) const MAX_LEN: usize = 1 << 20;

/// Allocations in this task do not start I/O (they behave as `GFP_NOIO`) until the scope is
/// dropped. For code that carries writeback of a drbd device (its `submit_bio`, the receiver
/// of the peer's writes): reclaim that writes back to a drbd device could wait for itself.
///
/// # Invariants
///
/// `flags` is what `memalloc_noio_save()` returned in this task; scopes end in reverse order
/// of their start (they are not `Send` and live on the stack).
pub(crate) struct NoIoScope {
    flags: u32,
    _not_send: PhantomData<*mut ()>,
}

impl NoIoScope {
    /// Start a scope; it ends when the value is dropped.
    pub(crate) fn enter() -> Self {
        // SAFETY: no requirement; the matching restore is in `drop`, in this task.
        let flags = unsafe { ffi::drbd_rs_noio_save() };
        Self {
            flags,
            _not_send: PhantomData,
        }
    }
}

impl Drop for NoIoScope {
    fn drop(&mut self) {
        // SAFETY: `flags` came from the save of this scope, in this task (type invariant).
        unsafe { ffi::drbd_rs_noio_restore(self.flags) };
    }
}

/// A byte buffer of `len` bytes (at most [`MAX_LEN`]) in whole pages.
///
/// Fresh buffers hold arbitrary bytes: callers fill them (from a bio, a socket, a read of
/// the lower device, [`PageBuf::write_bytes`]) before they hand them on.
///
/// # Invariants
///
/// `len <= MAX_LEN` and `pages.len() == len.div_ceil(PAGE_SIZE)`: byte `i` is at offset
/// `i % PAGE_SIZE` of page `i / PAGE_SIZE`.
pub(crate) struct PageBuf {
    pages: KVec<Page>,
    len: usize,
}

impl PageBuf {
    /// A buffer of `len` bytes (`len <= MAX_LEN`, else `EINVAL`). The allocations do not
    /// start I/O (no-I/O scope), so the I/O paths of a drbd device may call this; it may
    /// sleep (process context only).
    pub(crate) fn new(len: usize) -> Result<Self> {
        if len > MAX_LEN {
            return Err(EINVAL);
        }
        let count = len.div_ceil(PAGE_SIZE);
        let _noio = NoIoScope::enter();
        let mut pages = KVec::with_capacity(count, GFP_KERNEL)?;
        for _ in 0..count {
            // Never reallocates: the capacity was reserved above.
            pages.push(Page::alloc_page(GFP_KERNEL)?, GFP_KERNEL)?;
        }
        Ok(Self { pages, len })
    }

    /// Length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer holds no byte.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of pages (each up to `PAGE_SIZE` bytes of the buffer, the last one possibly
    /// partly).
    pub(crate) fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// The pages with the number of buffer bytes each holds (from offset 0), in order.
    pub(super) fn pages(&self) -> impl Iterator<Item = (&Page, usize)> + '_ {
        let len = self.len;
        self.pages
            .iter()
            .enumerate()
            .map(move |(i, page)| (page, (len - i * PAGE_SIZE).min(PAGE_SIZE)))
    }

    /// The buffer as page ranges in order, for [`TcpStream::send_pages`]
    /// (see also [`TcpStream::send_buf`]).
    ///
    /// [`TcpStream::send_pages`]: super::socket::TcpStream::send_pages
    /// [`TcpStream::send_buf`]: super::socket::TcpStream::send_buf
    pub(crate) fn ranges(&self) -> impl Iterator<Item = PageRange<'_>> + '_ {
        self.ranges_from(0)
    }

    /// The bytes from `offset` on as page ranges in order (none when `offset` is at or past
    /// the end): what is left to send after a send stopped part-way.
    pub(crate) fn ranges_from(&self, offset: usize) -> impl Iterator<Item = PageRange<'_>> + '_ {
        // Every page holds at least one byte of the buffer (type invariant), and the skipped
        // part of a page is shorter than its bytes: no range fails.
        self.pages().enumerate().filter_map(move |(i, (page, n))| {
            let skip = offset.saturating_sub(i * PAGE_SIZE);
            if skip >= n {
                return None;
            }
            PageRange::new(page, skip, n - skip).ok()
        })
    }

    /// The buffer as writable page ranges in order, for [`TcpStream::recv_pages`]
    /// (see also [`TcpStream::recv_buf`]).
    ///
    /// [`TcpStream::recv_pages`]: super::socket::TcpStream::recv_pages
    /// [`TcpStream::recv_buf`]: super::socket::TcpStream::recv_buf
    pub(crate) fn ranges_mut(&mut self) -> impl Iterator<Item = PageRangeMut<'_>> + '_ {
        let len = self.len;
        self.pages
            .iter_mut()
            .enumerate()
            .filter_map(move |(i, page)| {
                PageRangeMut::new(page, 0, (len - i * PAGE_SIZE).min(PAGE_SIZE)).ok()
            })
    }

    /// Copy `dst.len()` bytes from `offset` on into `dst`; `EINVAL` if they are not all
    /// inside the buffer.
    pub(crate) fn read_bytes(&self, offset: usize, dst: &mut [u8]) -> Result {
        self.check_range(offset, dst.len())?;
        let mut done = 0;
        while done < dst.len() {
            let (page, in_page, n) = self.locate(offset + done, dst.len() - done)?;
            let chunk = dst.get_mut(done..done + n).ok_or(EINVAL)?;
            // SAFETY: `chunk` is valid for `n` bytes of writes; `in_page + n <= PAGE_SIZE`
            // (`locate`). The page is ours and we are borrowed, so nothing writes it meanwhile.
            unsafe { page.read_raw(chunk.as_mut_ptr(), in_page, n) }?;
            done += n;
        }
        Ok(())
    }

    /// Copy `src` into the buffer from `offset` on; `EINVAL` if it does not fit.
    pub(crate) fn write_bytes(&mut self, offset: usize, src: &[u8]) -> Result {
        self.check_range(offset, src.len())?;
        let mut done = 0;
        while done < src.len() {
            let (page, in_page, n) = self.locate(offset + done, src.len() - done)?;
            let chunk = src.get(done..done + n).ok_or(EINVAL)?;
            // SAFETY: `chunk` is valid for `n` bytes of reads; `in_page + n <= PAGE_SIZE`
            // (`locate`). We hold the buffer mutably: nobody else accesses the page.
            unsafe { page.write_raw(chunk.as_ptr(), in_page, n) }?;
            done += n;
        }
        Ok(())
    }

    /// Copy the data of `bio` into the buffer; its size must equal the buffer's length
    /// (else `EINVAL`). For the data of a write.
    pub(crate) fn copy_from_bio(&mut self, bio: &Bio) -> Result {
        self.copy_bio(bio, false)
    }

    /// Copy the buffer into the data pages of `bio` (a read we complete with these bytes);
    /// its size must equal the buffer's length (else `EINVAL`).
    pub(crate) fn copy_to_bio(&self, bio: &Bio) -> Result {
        self.copy_bio(bio, true)
    }

    fn copy_bio(&self, bio: &Bio, to_bio: bool) -> Result {
        if bio.size() as usize != self.len {
            return Err(EINVAL);
        }
        // A private cursor over the bio's data: the bio itself is not advanced.
        let mut iter: bindings::bvec_iter = bio.data_iter();
        for (page, n) in self.pages() {
            // `n <= PAGE_SIZE` fits.
            let want = n as u32;
            // SAFETY: the bio is live while borrowed (`Bio` invariant) and `iter` a cursor over
            // its data; `page` is ours and holds `n` bytes; the C side copies at most `n` bytes
            // between them. Into our page only from `copy_from_bio`, which holds the buffer
            // mutably; into the bio's pages only for a read, whose pages its owner, the driver
            // we are, fills.
            let copied = unsafe {
                ffi::drbd_rs_bio_copy_page(bio.as_ptr(), &mut iter, page.as_ptr(), want, to_bio)
            };
            if copied != want {
                // The bio's segments hold less than its size says: not a bio we can trust.
                return Err(EIO);
            }
        }
        Ok(())
    }

    fn check_range(&self, offset: usize, len: usize) -> Result {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(EINVAL),
        }
    }

    /// Page, offset in it and bytes up to `max` (and the page's end) at buffer offset `at`.
    fn locate(&self, at: usize, max: usize) -> Result<(&Page, usize, usize)> {
        let page = self.pages.get(at / PAGE_SIZE).ok_or(EINVAL)?;
        let in_page = at % PAGE_SIZE;
        Ok((page, in_page, max.min(PAGE_SIZE - in_page)))
    }
}
