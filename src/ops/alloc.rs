//! The process's global allocator: the system allocator, except that very
//! large requests (1 GiB and up) are served by an anonymous `mmap` with
//! `MAP_NORESERVE`, which reserves address space without committing memory.
//!
//! Why: the `kafka-protocol` codec sizes a decoded array from its length
//! field before reading any element (`Vec::with_capacity(n)`). A 14-byte
//! request claiming 570 million elements asks for ~50 GB; the system
//! allocator refuses, and a refused allocation aborts a Rust process, so
//! any client could kill the broker (found by the `request_decode` fuzz
//! target). Served from a reservation instead, the capacity costs nothing:
//! the decoder fails on the short input after a few elements, the request
//! is refused like any malformed one, and the mapping is released. No
//! legitimate allocation in the broker is this large (requests are bounded
//! by `socket.request.max.bytes`, fetch responses by `fetch.max.bytes`).
//!
//! Sizes alone decide which path a block takes, so `dealloc` and
//! `realloc` always know how a block was allocated.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;

/// Requests at least this large are reserved with mmap.
pub const RESERVE_THRESHOLD: usize = 1 << 30;
const PAGE: usize = 4096;

pub struct ReservingAllocator;

fn reserved(layout: &Layout) -> bool {
    layout.size() >= RESERVE_THRESHOLD && layout.align() <= PAGE
}

// SAFETY: every block is freed by the path that allocated it (decided by
// its size and alignment, which the caller passes back unchanged); mmap'd
// blocks are page-aligned, which satisfies any alignment up to PAGE.
unsafe impl GlobalAlloc for ReservingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !reserved(&layout) {
            // SAFETY: forwarded unchanged to the system allocator.
            return unsafe { System.alloc(layout) };
        }
        // SAFETY: an anonymous private mapping; no file, no fixed address.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                layout.size(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            ptr::null_mut()
        } else {
            p.cast()
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !reserved(&layout) {
            // SAFETY: forwarded unchanged to the system allocator.
            return unsafe { System.alloc_zeroed(layout) };
        }
        // SAFETY: as `alloc`; anonymous mappings are zero-filled.
        unsafe { self.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if reserved(&layout) {
            // SAFETY: `ptr` came from our mmap of exactly `layout.size()`.
            unsafe { libc::munmap(ptr.cast(), layout.size()) };
        } else {
            // SAFETY: `ptr` came from the system allocator with `layout`.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees a valid layout for the new size.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if !reserved(&layout) && !reserved(&new_layout) {
            // SAFETY: both blocks belong to the system allocator.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // Crossing or within the reserved path: move the bytes.
        // SAFETY: `new_layout` is valid; the old block is freed by its own path.
        unsafe {
            let new = self.alloc(new_layout);
            if !new.is_null() {
                ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capacity_far_beyond_memory_is_reserved_not_refused() {
        // 64 GiB, more than this machine has: the system allocator would
        // refuse it and abort the process.
        let mut v: Vec<u64> = Vec::with_capacity(8 << 30);
        v.extend(0..1000);
        assert_eq!(v.iter().sum::<u64>(), 999 * 1000 / 2);
        v.shrink_to(10_000);
        assert_eq!(v.len(), 1000);
        assert_eq!(v[999], 999);
    }

    #[test]
    fn ordinary_growth_crossing_the_threshold_keeps_contents() {
        let layout = Layout::from_size_align(RESERVE_THRESHOLD - 8, 8).unwrap();
        let a = ReservingAllocator;
        // SAFETY: sizes and layouts are passed back unchanged.
        unsafe {
            let p = a.alloc(layout);
            assert!(!p.is_null());
            p.write(42);
            let q = a.realloc(p, layout, RESERVE_THRESHOLD + 8);
            assert!(!q.is_null());
            assert_eq!(q.read(), 42);
            let r = a.realloc(
                q,
                Layout::from_size_align(RESERVE_THRESHOLD + 8, 8).unwrap(),
                64,
            );
            assert_eq!(r.read(), 42);
            a.dealloc(r, Layout::from_size_align(64, 8).unwrap());
        }
    }
}
