#pragma once

#include <cstddef>

namespace rmqtt::broker {

// Grows the process's file descriptor table, once, to hold `want` descriptors (at most the soft
// RLIMIT_NOFILE); returns the number of descriptors the table now holds at least (0 when it was
// left alone: not Linux, or the reservation failed).
//
// Linux doubles the table when a new descriptor does not fit, and in a process with more than
// one thread each doubling waits for an RCU grace period (expand_fdtable: synchronize_rcu) with
// the thread that opened the descriptor asleep. Accepting 5,000 connections crossed seven
// doublings (64 -> 8,192), each a stall of 5 to 18 ms of the accepting worker on a 2-core VM
// (perf sched: synchronize_rcu_normal <- expand_files <- alloc_fd): up to a third of a connect
// storm's time. Done before the threads start it waits for nothing; the table is kernel memory
// (8 bytes a descriptor), not part of the process's RSS.
std::size_t reserve_descriptor_table(std::size_t want);

// What rmqttd reserves at start: 65,536 descriptors (512 KB of kernel memory), or the soft
// RLIMIT_NOFILE when that is lower. Beyond that the table still grows as needed.
constexpr std::size_t default_descriptor_reserve = 65536;

}  // namespace rmqtt::broker
