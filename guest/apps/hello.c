/* hello: prints from every dataplane core and exits 0. */
#include <ix.h>

int main(int argc, char **argv)
{
    const struct ix_app_info *i = ix_info();
    int32_t err;
    int64_t cpu = ix_call1(IX_OP_GETCPU, 0, 0, 0, &err);
    if (err || (uint64_t)cpu != i->cpu) {
        ix_printf("hello: getcpu said %ld (err %d), app info says %u", cpu, err, i->cpu);
        return 1;
    }
    ix_printf("hello from core %u of %u (%s%s%s)", i->cpu, i->ncpus, argc > 0 ? argv[0] : "",
              argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
    return 0;
}
