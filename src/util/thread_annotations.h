// Clang thread-safety analysis attributes (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html);
// empty under other compilers.

#ifndef TOKENAUDIT_UTIL_THREAD_ANNOTATIONS_H_
#define TOKENAUDIT_UTIL_THREAD_ANNOTATIONS_H_

#if defined(__clang__)
#define TA_THREAD_ANNOTATION_(x) __attribute__((x))
#else
#define TA_THREAD_ANNOTATION_(x)
#endif

#define TA_CAPABILITY(x) TA_THREAD_ANNOTATION_(capability(x))
#define TA_SCOPED_CAPABILITY TA_THREAD_ANNOTATION_(scoped_lockable)
#define GUARDED_BY(x) TA_THREAD_ANNOTATION_(guarded_by(x))
#define PT_GUARDED_BY(x) TA_THREAD_ANNOTATION_(pt_guarded_by(x))
#define TA_ACQUIRE(...) TA_THREAD_ANNOTATION_(acquire_capability(__VA_ARGS__))
#define TA_RELEASE(...) TA_THREAD_ANNOTATION_(release_capability(__VA_ARGS__))
#define TA_REQUIRES(...) TA_THREAD_ANNOTATION_(requires_capability(__VA_ARGS__))
#define TA_REQUIRES_SHARED(...) TA_THREAD_ANNOTATION_(requires_shared_capability(__VA_ARGS__))
#define TA_EXCLUDES(...) TA_THREAD_ANNOTATION_(locks_excluded(__VA_ARGS__))
#define TA_ASSERT_CAPABILITY(x) TA_THREAD_ANNOTATION_(assert_capability(x))
#define TA_NO_THREAD_SAFETY_ANALYSIS TA_THREAD_ANNOTATION_(no_thread_safety_analysis)

#endif  // TOKENAUDIT_UTIL_THREAD_ANNOTATIONS_H_
