// Two-thread accounting for the SIMD quantized matmul (ArrowheadQuant README, "Two threads:
// why the small shapes did not scale"): runs the C kernels of CArrowheadQMatmul on the
// Arrowhead pool (CArrowheadCPU/pool.c) the way the Swift driver splits them, and records
// for every call which thread ran each chunk, when, and how much thread CPU time it took.
// Over the calls in which both threads worked, it reports the best wall time and the thread
// CPU time of the busier thread (the critical path, which other processes' load does not
// inflate the way it inflates wall time), next to the best one-thread wall time of the same
// run (interleaved call by call).
//
//   panels: prepare rows split in two, then panel halves over all rows (two pool jobs; the
//           driver's split below 24 rows per thread)
//   rows:   each thread prepares and multiplies its own half of the rows (one pool job; the
//           driver's split from 24 rows per thread)
//
// Build and run (from the repository root; W8A8 by default, WO=1 for weight-only):
//   S=Sources; clang -O3 -ffp-contract=off -I$S/CArrowheadQMatmul/include -I$S/CArrowheadCPU/include \
//     -o /tmp/split_accounting Benchmarks/qgemm/split_accounting.c $S/CArrowheadQMatmul/qmatmul_avx512.c \
//     $S/CArrowheadQMatmul/qmatmul_portable.c $S/CArrowheadCPU/pool.c -lm -lpthread
//   /tmp/split_accounting M N K panels|rows CALLS [ROWS_OF_THREAD_0]
// Needs an x86-64 CPU with AVX-512 VNNI (random INT8 g64 weights, random activations).
#include "arrowhead_qmatmul.h"
#include "arrowhead_pool.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>
#include <stdatomic.h>
static double wnow(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static double tnow(void){struct timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static _Thread_local int caller=0;
static int M,N,K,G=64,groups,gc=64,panels,half,pmid; static int64_t stride; static arrowhead_qmm_weights w; static float*x,*y; static int8_t*ac; static float*as,*asum;
static double call0;
typedef struct { double start,end,cpu; int worker; } rec;
static rec cur[2][2]; // job, chunk
static int wo; static float*xv,*xs; static void*scr2[2];
static void prep(int r0,int r1){ if(wo){ arrowhead_qmm_prepare_float(x+(int64_t)r0*K,K,r1-r0,K,G,groups,gc,xv+r0*stride,xs+r0*groups); return; } arrowhead_qmm_prepare_int8_avx512(x+(int64_t)r0*K,K,r1-r0,K,G,groups,gc,ac+r0*stride,as+r0*groups,asum+r0*groups); }
static void kern(int r0,int r1,int p0,int p1){ if(wo){ arrowhead_qmm_float_rows xr={xv+r0*stride,xs+r0*groups,r1-r0,stride}; arrowhead_qmm_output out={y+(int64_t)r0*N,N,NULL}; arrowhead_qmm_weight_only_avx512(&w,&xr,&out,p0,p1,scr2[caller]); return; } arrowhead_qmm_int8_rows xr={ac+r0*stride,as+r0*groups,asum+r0*groups,r1-r0,stride}; arrowhead_qmm_output out={y+(int64_t)r0*N,N,NULL}; arrowhead_qmm_int8_avx512vnni(&w,&xr,&out,p0,p1,NULL); }
#define REC(j,i,body) do{ double s=wnow(),c=tnow(); body; cur[j][i]=(rec){s-call0,wnow()-call0,tnow()-c,!caller}; }while(0)
static void prep_task(void*p,long i){ REC(0,i, prep(i?M/2:0,i?M:M/2)); }
static void panel_task(void*p,long i){ REC(1,i, kern(0,M,i?pmid:0,i?panels:pmid)); }
static void row_task(void*p,long i){ REC(1,i, (prep(i?half:0,i?M:half),kern(i?half:0,i?M:half,0,panels))); }
static int cmp(const void*a,const void*b){double d=*(double*)a-*(double*)b;return d<0?-1:d>0;}
int main(int argc,char**argv){
  M=atoi(argv[1]);N=atoi(argv[2]);K=atoi(argv[3]); const char*mode=argv[4]; int calls=atoi(argv[5]);
  groups=(K+G-1)/G; panels=(N+15)/16; stride=(int64_t)groups*gc; int64_t pb=(int64_t)groups*gc*16; half=argc>6?atoi(argv[6]):M/2;
  int units=(panels+1)/2, per=(units+1)/2; pmid=per*2<panels?per*2:panels;
  uint8_t*codes=aligned_alloc(64,panels*pb); for(int64_t i=0;i<panels*pb;i++)codes[i]=rand();
  float*sc=malloc(4*panels*groups*16),*of=malloc(4*panels*groups*16); for(int i=0;i<panels*groups*16;i++){sc[i]=0.001f;of[i]=-0.1f;}
  w=(arrowhead_qmm_weights){codes,sc,of,N,groups,gc,pb,8,0};
  x=malloc(4*M*K); for(int i=0;i<M*K;i++)x[i]=rand()/(float)RAND_MAX-0.5f;
  ac=aligned_alloc(64,M*stride+64); as=malloc(4*M*groups); asum=malloc(4*M*groups); y=aligned_alloc(64,4*M*N+64);
  wo=getenv("WO")!=NULL; xv=aligned_alloc(64,4*M*stride+64); xs=malloc(4*M*groups); scr2[0]=aligned_alloc(64,arrowhead_qmm_scratch_bytes(&w)+64); scr2[1]=aligned_alloc(64,arrowhead_qmm_scratch_bytes(&w)+64);
  caller=1; int rowmode=!strcmp(mode,"rows");
  double *cw=malloc(8*calls),*cc=malloc(8*calls),*cs=malloc(8*calls),*csync=malloc(8*calls); int nc=0; double best1=1e9;
  for(int k=0;k<calls;k++){
    // 1T reference interleaved
    double s=wnow(); prep(0,M); kern(0,M,0,panels); double e1=wnow()-s; if(e1<best1)best1=e1;
    memset(cur,0,sizeof cur); call0=wnow();
    if(rowmode) arrowhead_pool_run(2,2,row_task,NULL); else { arrowhead_pool_run(2,2,prep_task,NULL); arrowhead_pool_run(2,2,panel_task,NULL); }
    double e=wnow()-call0;
    int j=1; if(cur[j][0].worker!=cur[j][1].worker && (rowmode || cur[0][0].worker!=cur[0][1].worker)){
      // concurrent call
      int wi=cur[j][0].worker?0:1; cw[nc]=e; cc[nc]=fmax(cur[j][0].cpu,cur[j][1].cpu)+(rowmode?0:fmax(cur[0][0].cpu,cur[0][1].cpu)); cs[nc]=rowmode?cur[j][wi].start:cur[0][cur[0][0].worker?0:1].start;
      double busy = rowmode? fmax(cur[1][0].end-cur[1][0].start,cur[1][1].end-cur[1][1].start) : fmax(cur[0][0].end-cur[0][0].start,cur[0][1].end-cur[0][1].start)+fmax(cur[1][0].end-cur[1][0].start,cur[1][1].end-cur[1][1].start);
      csync[nc]=e-busy; nc++; }
  }
  if(!nc){printf("%s: no concurrent calls\n",mode);return 0;}
  qsort(cw,nc,8,cmp);qsort(cc,nc,8,cmp);qsort(cs,nc,8,cmp);qsort(csync,nc,8,cmp);
  printf("%dx%dx%d %s: 1T best wall %.4f ms | concurrent calls %d/%d: wall min %.4f p25 %.4f med %.4f (speedup min %.2fx) | max-chunk cpu min %.4f med %.4f | worker start med %.1f us | wall-busy (sync) p25 %.1f med %.1f us\n",
    M,N,K,mode,best1*1e3,nc,calls,cw[0]*1e3,cw[nc/4]*1e3,cw[nc/2]*1e3,best1/cw[0],cc[0]*1e3,cc[nc/2]*1e3,cs[nc/2]*1e6,csync[nc/4]*1e6,csync[nc/2]*1e6);
}
