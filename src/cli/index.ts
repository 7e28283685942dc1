console.log('ix: not yet');
