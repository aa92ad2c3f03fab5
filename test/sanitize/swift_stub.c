/*
 * swift_stub.c
 *		A swift_demangle that demangles nothing, preloaded after libasan.
 *
 * With libasan preloaded into PostgreSQL's (uninstrumented) binaries, ASan
 * initialises lazily inside libgpg-error's constructor, which holds glibc's
 * gettext lock; ASan's symbolizer then calls dlerror() after failing to find
 * swift_demangle, and dlerror() re-enters gettext and corrupts that lock, so
 * the process hangs in bindtextdomain().  When the symbol resolves there is
 * no error to translate.  Returning NULL means "not a Swift name".
 */
#include <stddef.h>
#include <stdint.h>

char	   *swift_demangle(const char *mangled, size_t mangled_len, char *out,
						   size_t *out_len, uint32_t flags);

char *
swift_demangle(const char *mangled, size_t mangled_len, char *out,
			   size_t *out_len, uint32_t flags)
{
	return NULL;
}
