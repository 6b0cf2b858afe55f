import CFFmpeg
import Foundation

/// A thread of its own fed through a small bounded queue: the shape of every encoding stage
/// (one per picture size), so decoding on the caller's thread and encoding on these run side by
/// side while memory stays bounded (a queued 1080p picture is 3 MB).
///
/// After `handle` or `finish` throws, the thread frees what is still queued or pushed, and
/// ``push(_:)`` throws that first error.
///
/// `@unchecked Sendable`: the queue and the flags are only touched under `condition`; the
/// closures run on the thread alone once it started.
final class FeedThread<Item>: @unchecked Sendable {
    private let capacity: Int
    private let release: (Item) -> Void
    private let condition = NSCondition()
    private var queue: [Item?] = []
    private var started = false
    private var ended = false
    private var finished = false
    private var firstFailure: (any Error)?

    /// - Parameters:
    ///   - capacity: items queued before ``push(_:)`` waits.
    ///   - release: frees an item that will not be handled.
    init(capacity: Int, release: @escaping (Item) -> Void) {
        self.capacity = max(capacity, 1)
        self.release = release
    }

    /// The first error `handle` or `finish` threw.
    var failure: (any Error)? { condition.withLock { firstFailure } }

    /// Starts the thread: `handle` runs for each item in order (it frees the item), `finish`
    /// once after ``end()`` unless something failed.
    func start(name: String, handle: @escaping (Item) throws -> Void, finish: @escaping () throws -> Void) {
        condition.withLock {
            started = true
            work = (handle, finish)
        }
        let thread = Thread { [self] in
            nameThisThread(name)
            run()
        }
        thread.stackSize = 8 << 20
        thread.name = name
        thread.start()
    }

    /// Queues an item, waiting while the queue is full.
    /// - Throws: the thread's error once it failed (the item is freed).
    func push(_ item: Item) throws {
        condition.lock()
        while queue.count >= capacity && firstFailure == nil { condition.wait() }
        if let failure = firstFailure {
            condition.unlock()
            release(item)
            throw failure
        }
        queue.append(item)
        condition.broadcast()
        condition.unlock()
    }

    /// Asks the thread to finish (or, after a failure, just to stop).
    func end() {
        condition.withLock {
            guard !ended else { return }
            ended = true
            queue.append(nil)
            condition.broadcast()
        }
    }

    func waitUntilFinished() {
        condition.lock()
        while started && !finished { condition.wait() }
        condition.unlock()
    }

    /// What the thread runs; dropped when it finishes, so nothing it captured outlives it.
    private var work: (handle: (Item) throws -> Void, finish: () throws -> Void)?

    private func run() {
        guard let (handle, finish) = condition.withLock({ work }) else { return }
        while true {
            condition.lock()
            while queue.isEmpty { condition.wait() }
            let next = queue.removeFirst()
            let failed = firstFailure != nil
            condition.broadcast()
            condition.unlock()
            guard let item = next else {
                if !failed { perform(finish) }
                condition.withLock {
                    finished = true
                    work = nil
                    condition.broadcast()
                }
                return
            }
            if failed {
                release(item)
            } else {
                perform { try handle(item) }
            }
        }
    }

    private func perform(_ work: () throws -> Void) {
        do {
            try work()
        } catch {
            condition.withLock {
                if firstFailure == nil { firstFailure = error }
                condition.broadcast()
            }
        }
    }
}

/// Names the calling thread as top and /proc show it (Linux keeps the first 15 characters).
public func nameThisThread(_ name: String) { shim_name_thread(name) }
