const { QueueEvents } = require('bullmq');
(async () => {
  const e = new QueueEvents('q', { connection: { url: 'redis://127.0.0.1:1' } });
  e.on('error', () => {});
  setTimeout(async () => {
    let t = Date.now();
    e.close().then(() => console.log('close resolved', Date.now() - t));
    const r2 = await Promise.race([e.disconnect().then(() => 'disc'), new Promise(r => setTimeout(r, 3000, 'timeout'))]);
    console.log('events disconnect', r2, Date.now() - t);
    setTimeout(() => console.log('handles', process._getActiveHandles().map(h => h.constructor.name)), 500).unref();
  }, 500);
})();
