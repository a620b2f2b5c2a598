// SPDX-License-Identifier: GPL-2.0
/*
 * C shim for block devices (rust/glue/block.rs, pagebuf.rs, drain.rs): the bio-based gendisk
 * and its callbacks, lower devices, bios and their data, the static inlines and GFP_NOIO /
 * BLK_OPEN_* / BLK_FEAT_* / REQ_* macros they need. Mechanism only; decisions stay in Rust.
 *
 * Separate from helpers.c so that the KUnit module can link the block glue too (helpers.c
 * calls back into Rust code that only drbd_rs.ko has; the callbacks used here are in
 * block.rs, which both modules compile). Prototypes: helpers.h and ffi.rs.
 */
#include <linux/blkdev.h>
#include <linux/bio.h>
#include <linux/error-injection.h>
#include <linux/highmem.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/wait_bit.h>

#include "helpers.h"

/* ---- block devices ---- */

static void drbd_rs_submit_bio_adapter(struct bio *bio)
{
	drbd_rs_submit_bio(bio->bi_bdev->bd_disk->private_data, bio);
}

static int drbd_rs_open_adapter(struct gendisk *disk, blk_mode_t mode)
{
	return drbd_rs_disk_open(disk->private_data, !!(mode & BLK_OPEN_WRITE));
}

static void drbd_rs_release_adapter(struct gendisk *disk)
{
	drbd_rs_disk_release(disk->private_data);
}

/* The last reference to an added disk is gone: no open, release or bio can follow. */
static void drbd_rs_free_disk_adapter(struct gendisk *disk)
{
	drbd_rs_disk_free(disk->private_data);
}

static const struct block_device_operations drbd_rs_fops = {
	.owner = THIS_MODULE,
	.submit_bio = drbd_rs_submit_bio_adapter,
	.open = drbd_rs_open_adapter,
	.release = drbd_rs_release_adapter,
	.free_disk = drbd_rs_free_disk_adapter,
};

struct gendisk *drbd_rs_disk_alloc(int major, int minor, unsigned int max_bio_sectors,
				   void *private_data)
{
	struct queue_limits lim = {
		.max_hw_sectors = max_bio_sectors,
		.features = BLK_FEAT_WRITE_CACHE | BLK_FEAT_FUA,
	};
	struct gendisk *disk = blk_alloc_disk(&lim, NUMA_NO_NODE);

	if (IS_ERR(disk))
		return disk;
	disk->major = major;
	disk->first_minor = minor;
	disk->minors = 1;
	disk->fops = &drbd_rs_fops;
	disk->private_data = private_data;
	disk->flags |= GENHD_FL_NO_PART;
	snprintf(disk->disk_name, sizeof(disk->disk_name), "drbd%d", minor);
	return disk;
}
/* Tests make this fail on demand (fail_function) to exercise the new-minor error path. */
ALLOW_ERROR_INJECTION(drbd_rs_disk_alloc, ERRNO);

/* Take over the lower device's limits (discard, block sizes, ...), capped at our bio size. */
int drbd_rs_disk_stack_limits(struct gendisk *disk, struct block_device *lower,
			      unsigned int max_bio_sectors)
{
	struct queue_limits lim = queue_limits_start_update(disk->queue);

	blk_set_stacking_limits(&lim);
	lim.max_hw_sectors = max_bio_sectors;
	lim.features |= BLK_FEAT_WRITE_CACHE | BLK_FEAT_FUA;
	queue_limits_stack_bdev(&lim, lower, 0, disk->disk_name);
	lim.max_hw_sectors = min(lim.max_hw_sectors, max_bio_sectors);
	return queue_limits_commit_update(disk->queue, &lim);
}

/*
 * A clone of @bio for @bdev from @bs. GFP_NOIO from the bio_set's mempool: waits for a free
 * bio rather than fail, so I/O always makes progress.
 */
struct bio *drbd_rs_bio_clone(struct block_device *bdev, struct bio *bio, struct bio_set *bs)
{
	return bio_alloc_clone(bdev, bio, GFP_NOIO, bs);
}

sector_t drbd_rs_bdev_nr_sectors(struct block_device *bdev)
{
	return bdev_nr_sectors(bdev);
}

/* Open a lower device read-write and exclusively for @holder (one owner, like drbd). */
struct file *drbd_rs_bdev_open(const char *path, void *holder)
{
	return bdev_file_open_by_path(path, BLK_OPEN_READ | BLK_OPEN_WRITE, holder, NULL);
}

/*
 * Synchronous I/O of one page at @sector (meta-data). Writes may ask for PREFLUSH+FUA so
 * that the block is on stable storage when this returns.
 */
int drbd_rs_bdev_rw_page(struct block_device *bdev, sector_t sector, struct page *page,
			 bool write, bool flush_fua)
{
	struct bio_vec bvec;
	struct bio bio;
	blk_opf_t opf = write ? REQ_OP_WRITE | REQ_SYNC : REQ_OP_READ;
	int err;

	if (write && flush_fua)
		opf |= REQ_PREFLUSH | REQ_FUA;
	bio_init(&bio, bdev, &bvec, 1, opf | REQ_META);
	bio.bi_iter.bi_sector = sector;
	__bio_add_page(&bio, page, PAGE_SIZE, 0);
	err = submit_bio_wait(&bio);
	bio_uninit(&bio);
	return err;
}

/* ---- data buffers (rust/glue/pagebuf.rs) and their I/O ---- */

/*
 * Allocations between save and restore behave as GFP_NOIO (the Rust allocator flags of 6.12
 * have no GFP_NOIO): callers carry writeback, which must not recurse into the block layer.
 * Restore in the same task, in reverse order of saving.
 */
unsigned int drbd_rs_noio_save(void)
{
	return memalloc_noio_save();
}

void drbd_rs_noio_restore(unsigned int flags)
{
	memalloc_noio_restore(flags);
}

/*
 * Copy up to @len bytes between the data of @bio from @iter on and @page from offset 0:
 * into the page, or into the bio's pages with @to_bio. Advances @iter past what was copied
 * and returns that count (less than @len only where the bio's data ends).
 */
unsigned int drbd_rs_bio_copy_page(struct bio *bio, struct bvec_iter *iter, struct page *page,
				   unsigned int len, bool to_bio)
{
	char *buf = kmap_local_page(page);
	unsigned int done = 0;

	while (done < len && iter->bi_size) {
		/* One page of one segment at a time: bv_page is mapped on its own. */
		struct bio_vec bv = bio_iter_iovec(bio, *iter);
		unsigned int n = min(bv.bv_len, len - done);

		if (to_bio)
			memcpy_to_page(bv.bv_page, bv.bv_offset, buf + done, n);
		else
			memcpy_from_page(buf + done, bv.bv_page, bv.bv_offset, n);
		bio_advance_iter_single(bio, iter, n);
		done += n;
	}
	kunmap_local(buf);
	return done;
}

/*
 * A bio for @nr_vecs pages from the kernel's general pool (GFP_NOIO from its mempool: waits
 * for a free bio rather than fail). A read, or a write with optional FUA and PREFLUSH;
 * nr_vecs 0 with @preflush is an empty flush.
 */
struct bio *drbd_rs_buf_bio_alloc(struct block_device *bdev, unsigned short nr_vecs, bool write,
				  bool fua, bool preflush)
{
	blk_opf_t opf = write ? REQ_OP_WRITE : REQ_OP_READ;

	if (write && fua)
		opf |= REQ_FUA;
	if (write && preflush)
		opf |= REQ_PREFLUSH;
	return bio_alloc(bdev, nr_vecs, opf, GFP_NOIO);
}

/* A bio for @nr_vecs segments that is never submitted (KUnit feeds it to the copies above). */
struct bio *drbd_rs_bio_kmalloc(unsigned short nr_vecs)
{
	struct bio *bio = bio_kmalloc(nr_vecs, GFP_KERNEL);

	if (bio)
		bio_init(bio, NULL, bio->bi_inline_vecs, nr_vecs, REQ_OP_READ);
	return bio;
}

void drbd_rs_bio_kfree(struct bio *bio)
{
	bio_uninit(bio);
	kfree(bio);
}

/* ---- draining operations in flight (rust/glue/drain.rs) ---- */

/* Sleep until *@var is 0; wake_up_var(@var) after each change that may make it so. */
void drbd_rs_wait_var_zero(u32 *var)
{
	wait_var_event(var, READ_ONCE(*var) == 0);
}

void drbd_rs_wake_var(void *var)
{
	wake_up_var(var);
}
