console.log('sender: not yet')
